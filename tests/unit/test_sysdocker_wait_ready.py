"""SystemDocker.wait_ready against a daemon that answers late, as dockerd does while it restores containers.

The "daemon" is a small HTTP server on the unix socket that only starts serving after a delay; what is
under test is our waiting (progress lines, the client it returns), not dockerd.
"""

import logging
import sys
import textwrap

from rancheros.sysdocker.daemon import SystemDocker, SystemDockerConfig

LATE_DAEMON = textwrap.dedent('''
    import http.server, json, os, socketserver, sys, time
    socket_path, delay = sys.argv[sys.argv.index("--host") + 1][len("unix://"):], float(os.environ["DELAY"])
    time.sleep(delay)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            body = b"OK" if self.path.endswith("/_ping") else json.dumps({"ApiVersion": "1.41"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        do_HEAD = do_GET
        def address_string(self):
            return "unix"
        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    Server(socket_path, Handler).serve_forever()
''')


def test_a_daemon_that_answers_late_is_waited_for_with_progress_lines(tmp_path, monkeypatch, caplog):
    fake = tmp_path / "dockerd"
    fake.write_text(f"#!{sys.executable}\n{LATE_DAEMON}")
    fake.chmod(0o755)
    monkeypatch.setenv("DELAY", "2.5")
    cfg = SystemDockerConfig(socket=f"{tmp_path}/s.sock", data_root=f"{tmp_path}/d", exec_root=f"{tmp_path}/x",
                             pidfile=f"{tmp_path}/p", log_file=f"{tmp_path}/log", dockerd=str(fake))
    daemon = SystemDocker(cfg)
    daemon.start()
    try:
        with caplog.at_level(logging.INFO, logger="rancheros.sysdocker.daemon"):
            client = daemon.wait_ready(timeout=30, progress_every=1.0)
        assert client.ping() is True
        client.close()
        notes = [r.getMessage() for r in caplog.records if "not answering yet" in r.getMessage()]
        assert notes and "waiting up to 30s" in notes[0]
        assert any(r.getMessage() == "system-docker ready" for r in caplog.records)
    finally:
        daemon.stop(timeout=5)
