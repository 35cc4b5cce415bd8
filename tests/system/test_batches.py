"""Group commit's two limits, hit and seen from outside: `[store] batch_wait`
(a batch is committed once its oldest change has waited that long, checked
after each round of events) and `[store] batch_max` (committed at once when
that many changes wait). `bastion_store_batches_total{kind,why}` says why
each batch was committed; the counts below hold whatever the machine's load,
because they follow from the limits, not from timing."""
from conftest import (DOMAIN, Phone, Registrar, digest_header, free_port, import_users,
                      parse_challenges, status_of)
from test_metrics import scrape, value
from test_register import wait_user_visible

USERS = {f"{2000 + i}": f"pw-batch-{2000 + i}" for i in range(9)}


def started(make_server, tmp_path, store_conf):
    mport = free_port()
    s = make_server(f"[metrics]\nlisten = 127.0.0.1:{mport}\n[store]\n{store_conf}\n"
                    "[guard]\nrate = 0\nregister_rate = 0\noverload_delay = 0\n")
    s.metrics_port = mport
    import_users(s, USERS, tmp_path)
    for u in USERS:
        wait_user_visible(s, u, USERS[u])
    return s


def batches(s, kind):
    text = scrape(s.metrics_port)
    return {why: value(text, "bastion_store_batches_total", kind=kind, why=why)
            for why in ("waited", "full", "tick")}


def test_batch_wait_zero_commits_after_each_round(make_server, tmp_path):
    """batch_wait = 0: each REGISTER of a phone that waits for its answer is
    committed by the round that read it, not by the tick; so is each of a
    call's batches (its dialog, then its record)."""
    s = started(make_server, tmp_path, "batch_wait = 0")
    before = batches(s, "registrations")
    for u in list(USERS)[:6]:
        ph = Registrar(s, u, USERS[u])
        assert status_of(ph.register())[0] == 200
        ph.close()
    after = batches(s, "registrations")
    # a tick that falls in the very round of a REGISTER may commit it first
    assert after["waited"] - before["waited"] >= 4, (before, after)

    calls0 = batches(s, "calls")
    a, b = Phone(s, "2006", USERS["2006"]), Phone(s, "2007", USERS["2007"])
    a.register()
    b.register()
    for _ in range(2):
        call_id, _, cseq = a.invite("2007")
        inv, totag = b.answer()
        _, ok, _ = a.expect_status(200, "INVITE")
        a.in_dialog("ACK", ok, call_id, cseq, totag, a.tag)
        b.expect_request("ACK")
        a.in_dialog("BYE", ok, call_id, cseq + 1, totag, a.tag)
        _, bye, _ = b.expect_request("BYE")
        b.respond(bye, 200, "OK", totag)
        a.expect_status(200, "BYE")
    calls1 = batches(s, "calls")
    assert calls1["waited"] - calls0["waited"] >= 2, (calls0, calls1)


def test_batch_max_fills_batches(make_server, tmp_path):
    """batch_max = 3, batch_wait at its longest: nine REGISTERs sent at once
    need at least three batches, and the ones that found three changes
    waiting committed them at once ("full"); every phone gets its 200."""
    s = started(make_server, tmp_path, "batch_max = 3\nbatch_wait = 50")
    phones = [Registrar(s, u, USERS[u]) for u in USERS]
    finals = []
    for ph in phones:
        first = ph.send(ph.request())
        assert status_of(first)[0] == 401
        chal = dict(parse_challenges(first))
        auth = digest_header(ph.user, ph.password, chal["SHA-256"], "REGISTER", f"sip:{DOMAIN}",
                             "SHA-256")
        finals.append(ph.request(auth=auth))
    before = batches(s, "registrations")
    for ph, msg in zip(phones, finals):
        ph.sock.sendto(msg, (s.host, s.port))
    for ph in phones:
        ph.sock.settimeout(10)
        assert status_of(ph.sock.recv(70000))[0] == 200
        ph.close()
    # each 200 OK went out after its batch's commit: the counts are final
    after = batches(s, "registrations")
    assert sum(after.values()) - sum(before.values()) >= 3, (before, after)
    assert after["full"] - before["full"] >= 1, (before, after)
