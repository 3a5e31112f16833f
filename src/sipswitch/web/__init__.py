"""HTTP surface: health and metrics endpoints, REST API, portal and live console."""
