"""Datagrams per second through the UDP adapter on loopback.

Run: ``python -m bench.udp_echo_bench``. A second process plays the peer:

* *receive*: it blasts datagrams; we count what reaches the sink (bounded count and time);
* *echo*: it keeps a window of datagrams in flight; the sink sends each one back on its flow,
  so every datagram crosses ``recvfrom`` → sink → ``TransportManager.send`` → ``sendto``.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import socket
import time

from sipswitch.transport import Flow, ListenerSpec, TransportManager

PAYLOAD = (
    b"OPTIONS sip:bench@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKbench\r\n"
    b"Call-ID: bench\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)
COUNT = 200_000
SECONDS = 3.0
WINDOW = 128


def _blast(port: int, count: int, seconds: float) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        deadline = time.monotonic() + seconds
        for i in range(count):
            with contextlib.suppress(OSError):
                sock.sendto(PAYLOAD, ("127.0.0.1", port))
            if i % 1024 == 0 and time.monotonic() > deadline:
                return


def _echo_peer(port: int, count: int, seconds: float, result: multiprocessing.Queue[int]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        addr = ("127.0.0.1", port)
        for _ in range(WINDOW):
            sock.sendto(PAYLOAD, addr)
        answered = 0
        deadline = time.monotonic() + seconds
        while answered < count and time.monotonic() < deadline:
            try:
                sock.recv(65536)
            except TimeoutError:  # a loss: refill the window
                for _ in range(WINDOW):
                    sock.sendto(PAYLOAD, addr)
                continue
            answered += 1
            sock.sendto(PAYLOAD, addr)
        result.put(answered)


async def receive_rate() -> float:
    received = 0
    last = time.perf_counter()

    def sink(data: bytes, flow: Flow) -> None:
        nonlocal received, last
        received += 1
        last = time.perf_counter()

    manager = TransportManager(sink)
    await manager.start([ListenerSpec.parse("udp:127.0.0.1:0")])
    port = manager.listeners()[0].port
    peer = multiprocessing.Process(target=_blast, args=(port, COUNT, SECONDS))
    start = time.perf_counter()
    peer.start()
    while peer.is_alive():
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # let the socket buffer drain
    peer.join()
    await manager.stop()
    print(f"receive: {received} of {COUNT} datagrams", end=" ")
    return received / max(last - start, 1e-9)


async def echo_rate() -> float:
    manager: TransportManager

    def sink(data: bytes, flow: Flow) -> None:
        manager.send(data, flow)

    manager = TransportManager(sink)
    await manager.start([ListenerSpec.parse("udp:127.0.0.1:0")])
    port = manager.listeners()[0].port
    result: multiprocessing.Queue[int] = multiprocessing.Queue()
    peer = multiprocessing.Process(target=_echo_peer, args=(port, COUNT, SECONDS, result))
    start = time.perf_counter()
    peer.start()
    while peer.is_alive() and result.empty():
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - start
    answered = result.get(timeout=5)
    peer.join()
    await manager.stop()
    print(f"echo: {answered} round trips", end=" ")
    return answered / elapsed


def main() -> None:
    for name, bench in (("receive", receive_rate), ("echo", echo_rate)):
        rate = asyncio.run(bench())
        print(f"→ {rate:,.0f} {name} datagrams/s")


if __name__ == "__main__":
    main()
