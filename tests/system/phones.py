"""Real softphones for the system tests: baresip (driven through its ctrl_tcp
module) and linphonec (driven through its standard input), each headless in a
temporary HOME with its own configuration, audio from a tone generator or a
file and to a file, its SIP ports chosen by the kernel.

Every wait is for a condition (an event, a line of output) with a deadline;
nothing sleeps a fixed time. Processes are stopped by their PID.
"""
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import wave

BARESIP = shutil.which("baresip")
LINPHONEC = shutil.which("linphonec")
BARESIP_MODULES = "/usr/lib/baresip/modules"


def missing_phones():
    """Why the real-phone tests cannot run here, or None."""
    why = []
    if not BARESIP or not os.path.isdir(BARESIP_MODULES):
        why.append("baresip (Debian package baresip-core) is not installed")
    if not LINPHONEC:
        why.append("linphonec (Debian package linphone-cli) is not installed")
    return "; ".join(why) or None


def free_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_tone(path, seconds=20, rate=8000):
    """A mono 16-bit WAV of a 440 Hz square-ish tone: the audio a phone sends."""
    frames = bytearray()
    for i in range(seconds * rate):
        v = 8000 if (i // 9) % 2 else -8000
        frames += int(v).to_bytes(2, "little", signed=True)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))


class Baresip:
    """One baresip process with one account, controlled over ctrl_tcp
    (netstring-framed JSON commands, responses and events)."""

    def __init__(self, home, user, password, domain, proxy, transport="udp", ca=None,
                 mediaenc=None, answer="auto", extra_account="", tone_seconds=5):
        """tone_seconds: the audio file it sends; baresip hangs up when it ends."""
        self.home = str(home)
        os.makedirs(self.home, exist_ok=True)
        self.user, self.domain = user, domain
        self.aor = f"sip:{user}@{domain}"
        self.ctrl_port = free_tcp_port()
        self.events = []
        self.lock = threading.Lock()
        self.responses = queue.Queue()
        self.log_path = os.path.join(self.home, "baresip.log")
        tone = os.path.join(self.home, "tone.wav")
        write_tone(tone, seconds=tone_seconds)
        conf = [
            "poll_method epoll",
            "net_interface 127.0.0.1",
            "sip_listen 127.0.0.1:0",
            f"module_path {BARESIP_MODULES}",
            "module g711.so",
            "module aufile.so",
            "module ausine.so",
            "module srtp.so",
            "module dtls_srtp.so",
            "module uuid.so",
            "module_app account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            f"audio_source aufile,{tone}",
            "audio_player aufile,/dev/null",
            "audio_alert aufile,/dev/null",
            "rtp_ports 10000-60000",
        ]
        if ca:
            conf.append(f"sip_cafile {ca}")
        with open(os.path.join(self.home, "config"), "w") as f:
            f.write("\n".join(conf) + "\n")
        params = [f"auth_pass={password}", f"answermode={answer}",
                  f'outbound="sip:{proxy};transport={transport}"', "regint=600"]
        if mediaenc:
            params.append(f"mediaenc={mediaenc}")
        self.account = (f"<sip:{user}@{domain};transport={transport}>;" + ";".join(params)
                        + extra_account)
        # No account at start: it is added over ctrl_tcp once we listen, so
        # that its REGISTER events reach us (see add_account).
        open(os.path.join(self.home, "accounts"), "w").close()
        env = dict(os.environ, HOME=self.home)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([BARESIP, "-f", self.home, "-v"], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     cwd=self.home)
        self.sock = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"baresip exited ({self.proc.returncode}):\n{self.log_text()}")
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        if self.sock is None:
            self.stop()
            raise AssertionError(f"baresip ctrl_tcp never answered:\n{self.log_text()}")
        self.sock.settimeout(None)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while True:
                m = re.match(rb"(\d+):", buf)
                if not m:
                    break
                n = int(m.group(1))
                start = m.end()
                if len(buf) < start + n + 1:
                    break
                try:
                    msg = json.loads(buf[start:start + n])
                except ValueError:
                    msg = {"raw": buf[start:start + n].decode("utf-8", "replace")}
                buf = buf[start + n + 1:]
                if msg.get("event"):
                    with self.lock:
                        self.events.append(msg)
                else:
                    self.responses.put(msg)

    def command(self, cmd, params="", timeout=10):
        """Run one command; returns its response (dict)."""
        body = json.dumps({"command": cmd, "params": params, "token": cmd}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")
        try:
            return self.responses.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"baresip: no answer to {cmd} {params}:\n{self.log_text()[-3000:]}")

    def wait_event(self, type_, timeout=20, since=0):
        """The first event of `type_` at index >= since; returns (index, event)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for i in range(since, len(self.events)):
                    if self.events[i].get("type") == type_:
                        return i, self.events[i]
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        with self.lock:
            seen = [e.get("type") for e in self.events]
        raise AssertionError(f"baresip {self.user}: no {type_} event after {timeout}s "
                             f"(seen {seen}):\n{self.log_text()[-4000:]}")

    def mark(self):
        with self.lock:
            return len(self.events)

    def add_account(self):
        """Create the user agent (it registers at once)."""
        r = self.command("uanew", self.account)
        assert r.get("ok"), r
        return r

    def register(self, timeout=20):
        """Add the account and wait for its REGISTER_OK (or fail on REGISTER_FAIL)."""
        since = self.mark()
        self.add_account()
        return self.wait_registered(timeout, since)

    def wait_registered(self, timeout=20, since=0):
        i, e = self.wait_any(("REGISTER_OK", "REGISTER_FAIL"), timeout, since)
        assert e["type"] == "REGISTER_OK", f"{self.user}: {e}\n{self.log_text()[-3000:]}"
        return e

    def wait_any(self, types, timeout=20, since=0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for i in range(since, len(self.events)):
                    if self.events[i].get("type") in types:
                        return i, self.events[i]
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        with self.lock:
            seen = [e.get("type") for e in self.events]
        raise AssertionError(f"baresip {self.user}: none of {types} after {timeout}s "
                             f"(seen {seen}):\n{self.log_text()[-4000:]}")

    def dial(self, uri):
        return self.command("dial", uri)

    def hangup(self):
        return self.command("hangup")

    def kill(self):
        """Die without a word (SIGKILL): the kernel closes its connections."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


class Linphone:
    """One linphonec process (-a: auto-answer), commands on its standard input,
    states read from its log (-d 6 -l FILE): liblinphone logs every account and
    call state change as 'moving from state [A] to [B]'."""

    def __init__(self, home, user, password, domain, proxy, ca=None, media_encryption="none",
                 mandatory=False, auto_answer=True):
        """proxy: where to register and send calls, e.g.
        'sip:127.0.0.1:5060;transport=tcp' or 'sip:localhost:5061;transport=tls'.
        The account is in the configuration file, so it registers at start."""
        self.home = str(home)
        self.user, self.domain = user, domain
        os.makedirs(os.path.join(self.home, ".local", "share", "linphone"), exist_ok=True)
        self.rc = os.path.join(self.home, "linphonerc")
        self.log_path = os.path.join(self.home, "linphone.log")
        self.out_path = os.path.join(self.home, "stdout.txt")
        rc = [
            "[sip]",
            "sip_port=-1",
            "sip_tcp_port=-1",
            "sip_tls_port=-1",
            "guess_hostname=1",
            f"media_encryption={media_encryption}",
            f"media_encryption_mandatory={1 if mandatory else 0}",
            "verify_server_certs=1",
            "verify_server_cn=1",
            "default_proxy=0",
        ]
        if ca:
            rc.append(f"root_ca={ca}")
        rc += ["", "[rtp]", "audio_rtp_port=0", "", "[sound]", "echocancellation=0", "",
               "[misc]", "history_max_size=0", "",
               "[proxy_0]", f"reg_proxy=<{proxy}>", f"reg_route=<{proxy};lr>",
               f"reg_identity=sip:{user}@{domain}", "reg_expires=600", "reg_sendregister=1",
               "publish=0", "",
               "[auth_info_0]", f"username={user}", f"passwd={password}", f"realm={domain}",
               f"domain={domain}", ""]
        with open(self.rc, "w") as f:
            f.write("\n".join(rc))
        args = [LINPHONEC, "-c", self.rc, "-d", "6", "-l", self.log_path]
        if auto_answer:
            args.append("-a")
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=self.out,
                                     stderr=subprocess.STDOUT,
                                     env=dict(os.environ, HOME=self.home), cwd=self.home)
        self.send("soundcard use files")
        self.wait_out("Using wav files instead of soundcard", timeout=30)

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def _text(self, path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_text(self):
        return self._text(self.log_path)

    def out_text(self):
        return self._text(self.out_path)

    def _wait(self, get, pattern, timeout, count):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            if len(rx.findall(get())) >= count:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"linphonec: {pattern!r} (x{count}) not seen after {timeout}s:\n"
                             f"--- stdout\n{self.out_text()[-2000:]}\n"
                             f"--- log\n{self.log_text()[-4000:]}")

    def wait_out(self, pattern, timeout=20, count=1):
        self._wait(self.out_text, pattern, timeout, count)

    def count_state(self, state):
        return len(re.findall(self._state_rx(state), self.log_text()))

    @staticmethod
    def _state_rx(state):
        # accounts log "to [LinphoneRegistrationOk]", calls "to LinphoneCallEnd"
        return r"moving from state \[?\w+\]? to \[?" + re.escape(state) + r"\b"

    def wait_state(self, state, timeout=20, count=1):
        """Wait until liblinphone has moved `count` times into `state`
        (LinphoneRegistrationOk, LinphoneCallStreamsRunning, LinphoneCallEnd...)."""
        self._wait(self.log_text, self._state_rx(state), timeout, count)

    def wait_registered(self, timeout=20, count=1):
        self.wait_state("LinphoneRegistrationOk", timeout, count)

    def call(self, uri):
        self.send(f"call {uri}")

    def terminate(self):
        self.send("terminate")

    def kill(self):
        """Die without a word (SIGKILL): the kernel closes its connections."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=15)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.out.close()
