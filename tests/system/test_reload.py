"""SIGHUP re-reads bastion.conf: a good file takes effect, a bad one is refused
with its file:line in the log and the running configuration kept."""
import signal

from conftest import header, request, status_of


def test_reload_applies_new_settings(server):
    assert header(server.udp(request("OPTIONS")), "Server") == []
    server.set_conf("server", "server_header", "ReloadedPBX")
    server.set_conf("limits", "max_headers", "8")
    server.signal(signal.SIGHUP)
    server.wait_log("configuration reloaded")
    reply = server.udp(request("OPTIONS"))
    assert header(reply, "Server") == ["ReloadedPBX"]
    # 7 fields pass, 9 are over the new limit of 8
    assert status_of(server.udp(request("OPTIONS", extra=b"X-A: 1\r\nX-B: 2")))[0] == 400


def test_bad_reload_keeps_running_configuration(server):
    server.set_conf("server", "server_header", "Before")
    server.signal(signal.SIGHUP)
    server.wait_log("configuration reloaded")
    with open(server.conf_path, "a") as f:
        f.write("\n[limits]\nmax_body = lots\n")
    server.signal(signal.SIGHUP)
    server.wait_log("reload refused")
    assert f"{server.conf_path}:" in server.log_text()
    assert server.alive()
    assert header(server.udp(request("OPTIONS")), "Server") == ["Before"]


def test_listen_change_needs_restart(server):
    server.set_conf("server", "listen", "udp:127.0.0.1:1")
    server.signal(signal.SIGHUP)
    server.wait_log("need a restart")
    assert server.options_ok()  # still on the old port
