#!/usr/bin/env python3
"""git's smart HTTP protocol behind basic authentication, as a git host
serves https (without the TLS): every request needs USER:PASSWORD, and is
then handed to the real `git http-backend` (CGI), which serves the bare
repositories in the directory of PORT_FILE, push included.

usage: git_http_server.py PORT_FILE USER PASSWORD [tls]

With `tls`, it serves https with a certificate of its own for localhost
(and 127.0.0.1), made with openssl next to PORT_FILE as cert.pem. Writes the port it listens on (127.0.0.1) into PORT_FILE. GET /log answers
one line per request: its method, path and whether its credentials were
missing, wrong or good, so that a test can tell what a client sent.
"""

import base64
import os
import ssl
import subprocess
import sys
import threading

import http_fixture

PORT_FILE, USER, PASSWORD = sys.argv[1:4]
TLS = sys.argv[4:5] == ["tls"]
ROOT = os.path.dirname(os.path.abspath(PORT_FILE))
GOOD = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
requests = []
requests_lock = threading.Lock()


class Handler(http_fixture.Handler):
    def handle_git(self):
        path, _, query = self.path.partition("?")
        if path == "/log":
            with requests_lock:
                text = "".join(line + "\n" for line in requests)
            return self.reply(200, text.encode(), [("Content-Type", "text/plain")])
        given = self.headers.get("Authorization")
        verdict = "none" if given is None else ("good" if given == GOOD else "wrong")
        with requests_lock:
            requests.append(f"{self.command} {path} {verdict}")
        body = self.body()
        if verdict != "good":
            # No body: libgit2 1.5 reuses the connection without reading one.
            return self.reply(401, b"",
                              [("WWW-Authenticate", 'Basic realm="lastmile-test"')])
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": ROOT,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": USER,
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env,
                             stdout=subprocess.PIPE, check=False).stdout
        head, _, content = out.partition(b"\r\n\r\n")
        if not _:
            head, _, content = out.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.reply(status, content, headers)

    do_GET = handle_git
    do_POST = handle_git


def tls_context():
    cert, key = os.path.join(ROOT, "cert.pem"), os.path.join(ROOT, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


http_fixture.serve(Handler, PORT_FILE, tls_context() if TLS else None)
