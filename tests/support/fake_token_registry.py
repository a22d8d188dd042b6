#!/usr/bin/env python3
"""A stand-in for an OCI registry behind a token service, as Docker Hub,
GHCR and Harbor are: distribution 2.8 can only do that with a signing key
and a token server of its own, so the tests of the bearer flow talk to this.

usage: fake_token_registry.py PORT_FILE USER PASSWORD REFRESH_TOKEN

Writes the port it listens on (127.0.0.1) into PORT_FILE, then serves:
  GET  /token?service=S&scope=SC   basic USER:PASSWORD -> {"token": "tok|SC"}
  POST /token (form)               refresh_token=REFRESH_TOKEN -> {"access_token": "tok|SC"}
  GET  /v2/R/manifests/T           needs a token for repository:R:pull -> {"fake": true}
  HEAD /v2/R/blobs/D               needs a token for repository:R:pull -> 404
  GET  /v2/R/blobs/D               needs a token for repository:R:pull -> 307 to
                                   http://localhost:PORT/storage/D, another origin
  GET  /storage/D                  "stored bytes", or 400 if an Authorization
                                   header came along
  any  /v2/down/...                503 with an OCI error body
  POST /v2/R/blobs/uploads/        needs a token for repository:R:pull,push -> 202
  PUT  /upload/R?digest=D          needs a token for repository:R:pull,push -> 201
  GET  /log                        the scopes of the tokens handed out, one a line
"""

import base64
import json
import sys
import urllib.parse

import http_fixture

PORT_FILE, USER, PASSWORD, REFRESH_TOKEN = sys.argv[1:5]
issued = []


class Handler(http_fixture.Handler):

    def challenge(self, scope):
        realm = "http://127.0.0.1:%d/token" % self.server.server_port
        value = 'Bearer realm="%s",service="fake",scope="%s"' % (realm, scope)
        error = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        self.reply(401, json.dumps(error).encode(), [("WWW-Authenticate", value)])

    def authorized(self, repo, push):
        wanted = "repository:%s:%s" % (repo, "pull,push" if push else "pull")
        token = self.headers.get("Authorization", "")
        ok = token == "Bearer tok|" + wanted or (not push and token == "Bearer tok|" + wanted + ",push")
        if not ok:
            self.challenge(wanted)
        return ok

    def issue(self, scope, key):
        issued.append(scope)
        self.reply(200, json.dumps({key: "tok|" + scope}).encode())

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = url.path.split("/")
        if url.path == "/token":
            basic = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
            if self.headers.get("Authorization") != basic:
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad login"}]}')
            return self.issue(query["scope"][0], "token")
        if url.path == "/log":
            return self.reply(200, "".join(s + "\n" for s in issued).encode())
        if url.path.startswith("/v2/down/"):
            return self.reply(503, b'{"errors":[{"code":"UNAVAILABLE","message":"down for upgrade"}]}')
        if url.path.startswith("/storage/"):
            if "Authorization" in self.headers:
                return self.reply(400, b"a credential reached the storage")
            return self.reply(200, b"stored bytes")
        if len(parts) >= 5 and parts[-2] == "blobs":
            if self.authorized("/".join(parts[2:-2]), False):
                location = "http://localhost:%d/storage/%s" % (self.server.server_port, parts[-1])
                self.reply(307, headers=[("Location", location)])
            return
        if len(parts) >= 5 and parts[-2] == "manifests":
            if self.authorized("/".join(parts[2:-2]), False):
                self.reply(200, b'{"fake": true}')
            return
        self.reply(404)

    def do_HEAD(self):
        parts = urllib.parse.urlsplit(self.path).path.split("/")
        if self.authorized("/".join(parts[2:-2]), False):
            self.reply(404)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        body = self.body()
        if url.path == "/token":
            form = urllib.parse.parse_qs(body.decode())
            if form.get("refresh_token") != [REFRESH_TOKEN] or form.get("grant_type") != ["refresh_token"]:
                return self.reply(401)
            return self.issue(form["scope"][0], "access_token")
        repo = "/".join(url.path.split("/")[2:-3])
        if self.authorized(repo, True):
            self.reply(202, headers=[("Location", "/upload/" + repo)])

    def do_PUT(self):
        self.body()
        repo = urllib.parse.urlsplit(self.path).path[len("/upload/"):]
        if self.authorized(repo, True):
            self.reply(201)


http_fixture.serve(Handler, PORT_FILE)
