"""A tiny stand-in for the Hugging Face Hub's download endpoints, for testing the real huggingface_hub path.

Serves HEAD/GET `/{org}/{repo}/resolve/{revision}/{filename}` from folders registered per (repo, commit),
with the headers huggingface_hub reads (X-Repo-Commit, ETag, Content-Length) and the hub's error codes.
"""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


class LocalHub:
    def __init__(self):
        self.repos: dict[str, dict[str, Path]] = {}  # repo -> {commit: folder}
        self.branches: dict[str, dict[str, str]] = {}  # repo -> {branch: commit}
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, repo: str, folder: Path, branch: str = "main") -> str:
        """Publish `folder` as a new commit of `repo` on `branch`; returns the commit sha."""
        digest = hashlib.sha1()
        for f in sorted(folder.iterdir()):
            digest.update(f.name.encode() + f.read_bytes())
        commit = digest.hexdigest()
        self.repos.setdefault(repo, {})[commit] = folder
        self.branches.setdefault(repo, {})[branch] = commit
        return commit

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _resolve(self):
                parts = unquote(self.path.split("?")[0]).strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return None, "RepoNotFound", None
                repo, rev, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                if repo not in hub.repos:
                    return None, "RepoNotFound", None
                commit = hub.branches[repo].get(rev, rev)
                if commit not in hub.repos[repo]:
                    return None, "RevisionNotFound", None
                path = hub.repos[repo][commit] / filename
                if not path.is_file():
                    return None, "EntryNotFound", commit
                return path, None, commit

            def _respond(self, body: bool):
                hub.requests.append(f"{self.command} {self.path}")
                path, error, commit = self._resolve()
                if error:
                    self.send_response(404)
                    self.send_header("X-Error-Code", error)
                    self.send_header("X-Error-Message", error)
                    if commit:
                        self.send_header("X-Repo-Commit", commit)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_HEAD(self):
                self._respond(body=False)

            def do_GET(self):
                self._respond(body=True)

        return Handler
