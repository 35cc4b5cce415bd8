"""The command line: names, state directory resolution, init, config check,
and configuration errors reported as file:line before the server starts."""
import os
import re
import stat

from conftest import ROOT, run_cli


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0
    assert re.fullmatch(r"bastion \d+\.\d+\.\d+\n", r.stdout)


def test_help_lists_commands():
    r = run_cli("help")
    assert r.returncode == 0
    for cmd in ("init", "serve", "config", "help"):
        assert f"bastion {cmd}" in r.stdout or f"bastion --state DIR {cmd}" in r.stdout


def test_command_help():
    for cmd in ("init", "serve", "config"):
        r = run_cli(cmd, "--help")
        assert r.returncode == 0, cmd
        assert r.stdout.startswith("usage: "), cmd
    r = run_cli("help", "init")
    assert r.returncode == 0 and "--domain" in r.stdout


def test_unknown_command_is_usage_error():
    r = run_cli("frobnicate")
    assert r.returncode == 2
    assert "unknown command frobnicate" in r.stderr


def test_init_creates_state(tmp_path):
    state = tmp_path / "st"
    r = run_cli("init", "--state", str(state), "--domain", "pbx.example.org",
                "--listen", "udp:127.0.0.1:5099")
    assert r.returncode == 0, r.stderr
    conf = (state / "bastion.conf").read_text()
    assert "domain = pbx.example.org" in conf
    assert "listen = udp:127.0.0.1:5099" in conf
    assert ";max_headers = 100" in conf  # every other setting shown with its default
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(state / "bastion.conf").st_mode) == 0o640


def test_init_default_listens_on_loopback_only(tmp_path):
    r = run_cli("init", "--state", str(tmp_path / "st"))
    assert r.returncode == 0, r.stderr
    conf = (tmp_path / "st" / "bastion.conf").read_text()
    listen = re.search(r"^listen = (.*)$", conf, re.M).group(1)
    for item in listen.split(","):
        assert item.split(":", 1)[1].startswith(("127.", "[::1]")), item


def test_init_refuses_to_overwrite(tmp_path):
    state = str(tmp_path / "st")
    assert run_cli("init", "--state", state).returncode == 0
    before = open(os.path.join(state, "bastion.conf")).read()
    r = run_cli("init", "--state", state, "--domain", "other.example")
    assert r.returncode == 1
    assert "refusing to overwrite" in r.stderr
    assert open(os.path.join(state, "bastion.conf")).read() == before


def test_init_refuses_bad_values(tmp_path):
    r = run_cli("init", "--state", str(tmp_path / "a"), "--listen", "udp:300.1.1.1:5060")
    assert r.returncode == 1 and "listen" in r.stderr
    assert not (tmp_path / "a").exists()
    r = run_cli("init", "--state", str(tmp_path / "b"), "--domain", "no spaces allowed")
    assert r.returncode == 1 and "domain" in r.stderr


def test_state_resolution(tmp_path):
    """--state before or after the command, else $BASTION_STATE."""
    a, b, c = (str(tmp_path / n) for n in "abc")
    assert run_cli("--state", a, "init").returncode == 0
    assert run_cli("init", "--state", b).returncode == 0
    assert run_cli("init", env={"BASTION_STATE": c}).returncode == 0
    for d in (a, b, c):
        assert os.path.exists(os.path.join(d, "bastion.conf"))
    r = run_cli("config", "check", env={"BASTION_STATE": c})
    assert r.returncode == 0 and c in r.stdout


def test_default_state_dir_is_named(tmp_path):
    r = run_cli("config", "check")
    if r.returncode != 0:
        assert "/var/lib/bastion/bastion.conf" in r.stderr


def test_serve_without_state_explains(tmp_path):
    r = run_cli("--state", str(tmp_path / "none"), "serve")
    assert r.returncode == 1
    assert "bastion init" in r.stderr


def test_bad_config_stops_startup_with_file_and_line(tmp_path):
    state = str(tmp_path / "st")
    assert run_cli("init", "--state", state).returncode == 0
    path = os.path.join(state, "bastion.conf")
    with open(path, "a") as f:
        f.write("\n[limits]\nmax_uri = 5\n")
    lines = open(path).read().splitlines()
    lineno = len(lines)
    r = run_cli("--state", state, "serve", timeout=10)
    assert r.returncode == 1
    assert f"{path}:{lineno}: max_uri" in r.stderr, r.stderr
    r = run_cli("--state", state, "config", "check")
    assert r.returncode == 1 and f"{path}:{lineno}:" in r.stderr


def test_unknown_key_stops_startup(tmp_path):
    state = str(tmp_path / "st")
    assert run_cli("init", "--state", state).returncode == 0
    with open(os.path.join(state, "bastion.conf"), "a") as f:
        f.write("\n[server]\nlisten_on = udp:127.0.0.1:5060\n")
    r = run_cli("--state", state, "serve", timeout=10)
    assert r.returncode == 1
    assert 'unknown key "listen_on"' in r.stderr


def test_docs_reference_matches_the_binary():
    """docs/configuration.md carries the generated reference verbatim."""
    ref = run_cli("config", "reference").stdout
    doc = open(os.path.join(ROOT, "docs", "configuration.md")).read()
    start = doc.index("<!-- BEGIN GENERATED REFERENCE -->")
    end = doc.index("<!-- END GENERATED REFERENCE -->")
    generated = doc[start:end].split("\n", 1)[1]
    assert generated.strip() == ref.strip(), \
        "docs/configuration.md is stale: regenerate with 'bastion config reference'"


def test_initial_conf_explains_each_setting(tmp_path):
    """bastion init writes, above each setting, the first sentence of its
    meaning from the settings table (as in docs/configuration.md), then its
    range, so the file explains itself."""
    state = tmp_path / "st"
    assert run_cli("init", "--state", str(state)).returncode == 0
    lines = (state / "bastion.conf").read_text().splitlines()
    ref = run_cli("config", "reference").stdout
    # | key | default | range | profiles | meaning |, under "### [section]"
    rows, section = [], None
    for line in ref.splitlines():
        m = re.match(r"^### \[(\w+)\]", line)
        if m:
            section = m.group(1)
        m = re.match(r"^\| `(\w+)` \| [^|]* \| ([^|]*) \| [^|]* \| (.*) \|$", line)
        if m:
            rows.append((section,) + m.groups())
    assert len(rows) > 30
    where, cur = {}, None
    for i, l in enumerate(lines):
        m = re.match(r"^\[(\w+)\]", l)
        if m:
            cur = m.group(1)
        m = re.match(r";?(\w+) = ", l)
        if m:
            where[(cur, m.group(1))] = i
    for sec, key, rng, meaning in rows:
        at = where[(sec, key)]
        assert lines[at - 1].startswith(";   (") and ")" in lines[at - 1], key
        # the comment block above the range line, joined
        j = at - 2
        block = []
        while j >= 0 and lines[j].startswith("; ") and not lines[j].startswith(";   ("):
            block.insert(0, lines[j][2:])
            j -= 1
        text = " ".join(block)
        first = meaning.replace("`", "")
        assert text and first.startswith(text), (key, text, first)
