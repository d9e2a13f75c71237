"""Webhooks to a receiver on the operator's machine under ``make run``: the feed
settings an operator edits live in ``.certseal/local.toml``, which ``make run`` layers
after the config it rewrites on every start and never writes itself; and
``certseal feed receiver-cert`` issues a dev HTTPS certificate with the receiver's
names in its subjectAltName, which the feed's client accepts through the dev CA."""

import copy
import ssl

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509

from certseal.config import dump_config
from services.config import load
from services.devstack import DevStack
from services.run import config_layers
from tests.conftest import run_certseal


@pytest.mark.parametrize(
    "name", ["", "a\x07b", "line\nbreak", "x" * 300, "trail-", "a/b", "a.b", "ünï"]
)
async def test_a_receiver_name_that_is_no_dns_label_is_refused(tmp_path, config, name):
    code, out = await run_certseal(config, tmp_path, "feed", "receiver-cert", name)
    assert code == 2, out
    assert out.startswith("error: name:"), out
    assert "Traceback" not in out and "too long" not in out


async def test_make_run_keeps_the_operators_feed_settings(tmp_path, config):
    home = tmp_path / ".certseal"
    stack = DevStack(home, copy.deepcopy(config))
    home.mkdir(exist_ok=True)
    stack.config_file.write_text(dump_config(stack.config))  # an earlier start
    overlay = home / "local.toml"
    overlay.write_text(
        '[feed]\nwebhook_ca_file = "/etc/receiver-ca.pem"\n'
        'webhook_allowed_hosts = ["receiver.local"]\n'
    )
    before = overlay.read_bytes()
    # a new start writes config.toml anew (here: as DevStack.start does)
    stack.config.feed.webhook_ca_file = ""
    stack.config_file.write_text(dump_config(stack.config))
    layers = config_layers(home, str(stack.config_file))
    assert layers == [str(stack.config_file), str(overlay)]
    loaded = load(layers)
    assert loaded.feed.webhook_ca_file == "/etc/receiver-ca.pem"
    assert loaded.feed.webhook_allowed_hosts == ["receiver.local"]
    assert loaded.kafka.bootstrap_servers == config.kafka.bootstrap_servers
    assert overlay.read_bytes() == before
    overlay.unlink()
    assert config_layers(home, str(stack.config_file)) == [str(stack.config_file)]


async def test_a_dev_receiver_certificate_serves_https_the_feed_trusts(
    stack, config, tmp_path
):
    code, out = await run_certseal(
        config, tmp_path, "feed", "receiver-cert", "my-receiver", "--host", "localhost"
    )
    assert code == 0, out
    cert_file = out.split("certificate ", 1)[1].split()[0]
    key_file = out.split("key ", 1)[1].split()[0]
    assert "webhook_ca_file" in out and "local.toml" in out
    cert = x509.load_pem_x509_certificate(open(cert_file, "rb").read())  # noqa: ASYNC230, SIM115
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sans.value.get_values_for_type(x509.DNSName) == ["localhost"]

    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    app = web.Application()

    async def accept(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app.router.add_post("/hook", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        # what the feed's client does with [feed] webhook_ca_file = the dev CA
        client = ssl.create_default_context(cafile=str(stack.ca.ca_file))
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"https://localhost:{port}/hook", ssl=client) as reply,
        ):
            assert reply.status == 204
    finally:
        await runner.cleanup()

    code, out = await run_certseal(
        config, tmp_path, "feed", "receiver-cert", "bad", "--host", "not a host"
    )
    assert code == 2 and "error: host:" in out
