"""`sipswitch` answers real SIP peers: sipsak and SIPp OPTIONS over UDP, TCP and TLS; WebSocket."""

from __future__ import annotations

import asyncio
import shutil
import ssl
from pathlib import Path

import pytest
import wsproto
import wsproto.events as ws_events

from sipswitch.sip.framing import StreamFramer
from sipswitch.sip.message import Response
from sipswitch.sip.parser import parse_message
from tests.support.sipclient import request_text

from .conftest import RunningSwitch

pytestmark = pytest.mark.peers

SCENARIO = Path(__file__).parent / "scenarios" / "options_uac.xml"


async def _run(*argv: str, timeout: float = 20.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(errors="replace")


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (make test installs it)")
    return path


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sipsak_options(switch: RunningSwitch, transport: str) -> None:
    sipsak = _need("sipsak")
    argv = [sipsak, "-vv", "-s", f"sip:demo@127.0.0.1:{switch.port}", "--transport", transport]
    code, out = await _run(*argv)
    assert code == 0, out
    assert "SIP/2.0 200 OK" in out


async def test_tls_options(switch: RunningSwitch) -> None:
    """Over TLS (Debian's SIPp has no TLS and sipsak 0.9.8's TLS client fails its handshake
    read with OpenSSL 3, so the peer here is Python's ssl module)."""
    context = ssl.create_default_context(cafile=str(switch.certificate.cert))
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", switch.tls_port, ssl=context, server_hostname="localhost"
    )
    try:
        local_port = writer.get_extra_info("sockname")[1]
        writer.write(
            request_text("OPTIONS", "sip:demo@127.0.0.1", via_port=local_port, transport="TLS")
        )
        framer = StreamFramer()
        messages: list[bytes] = []
        while not messages:
            data = await asyncio.wait_for(reader.read(65536), 5)
            assert data, "connection closed"
            messages = [m for m in framer.feed(data) if isinstance(m, bytes)]
    finally:
        writer.close()
    response = parse_message(messages[0])
    assert isinstance(response, Response) and response.status == 200


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_sipp_options_scenario(switch: RunningSwitch, transport: str, tmp_path: Path) -> None:
    sipp = _need("sipp")
    code, out = await _run(
        sipp, f"127.0.0.1:{switch.port}", "-sf", str(SCENARIO), "-t", transport,
        "-i", "127.0.0.1", "-p", "0", "-m", "20", "-r", "50", "-timeout", "15s",
        "-timeout_error", "-nostdin", "-trace_err",
        "-error_file", str(tmp_path / "sipp.err"),
    )  # fmt: skip
    assert code == 0, out + (tmp_path / "sipp.err").read_text(errors="replace")


async def test_websocket_options(switch: RunningSwitch) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", switch.ws_port)
    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    writer.write(client.send(ws_events.Request(host="127.0.0.1", target="/", subprotocols=["sip"])))
    request = request_text("OPTIONS", "sip:demo@127.0.0.1", via_port=1, transport="WS").decode()
    response: Response | None = None
    try:
        while response is None:
            data = await asyncio.wait_for(reader.read(65536), 5)
            assert data, "connection closed"
            client.receive_data(data)
            for event in client.events():
                if isinstance(event, ws_events.AcceptConnection):
                    assert event.subprotocol == "sip"
                    writer.write(client.send(ws_events.TextMessage(data=request)))
                elif isinstance(event, ws_events.TextMessage | ws_events.BytesMessage):
                    payload = event.data
                    raw = payload.encode() if isinstance(payload, str) else bytes(payload)
                    parsed = parse_message(raw)
                    assert isinstance(parsed, Response)
                    response = parsed
                elif isinstance(event, ws_events.RejectConnection):
                    pytest.fail("WebSocket upgrade refused")
    finally:
        writer.close()
    assert response.status == 200
    assert "OPTIONS" in (response.get("Allow") or "")
