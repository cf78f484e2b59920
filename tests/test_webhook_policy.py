"""Webhook targets: public http(s) only, unless a host is explicitly allowed."""

from __future__ import annotations

import pytest

from promptq.webhook_policy import UnsafeWebhookURL, check_url


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost/hook", "http://10.1.2.3/x", "http://192.168.0.5/x",
    "http://172.16.0.1/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/x",
    "http://[fd00:ec2::254]/x", "http://0.0.0.0/x", "http://100.64.0.1/x",
    "http://[::ffff:127.0.0.1]/x", "ftp://example.com/x", "file:///etc/passwd", "http:///nohost",
    "http://user:pw@93.184.215.14/x",
])
def test_refused_targets(url):
    with pytest.raises(UnsafeWebhookURL):
        check_url(url, [])


def test_public_address_is_allowed():
    assert check_url("https://93.184.215.14/hook", []) == "93.184.215.14"


def test_listed_host_is_allowed_although_loopback():
    assert check_url("http://127.0.0.1:9000/hook", ["127.0.0.1"]) == "127.0.0.1"
    assert check_url("http://LOCALHOST:9000/hook", ["localhost"]) == "LOCALHOST".lower()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:99999/hook", "http://127.0.0.1:0/hook", "http://127.0.0.1:abc/hook",
    "http://127.0.0.1:-1/hook", "http://example.com:65536/hook", "http://[::1/hook",
])
def test_an_invalid_port_or_host_is_refused_even_for_an_allowed_host(url):
    with pytest.raises(UnsafeWebhookURL, match="port"):
        check_url(url, ["127.0.0.1", "example.com", "::1"])
