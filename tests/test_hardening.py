"""Hostile input against a live, key-less server on loopback (the default set-up): path traversal through EXSCLAIM
import, cross-site writes, oversize bodies (chunked included), and the inputs that used to end in a 500. Every
probe must be refused with a 4xx that says why, and must leave nothing written (same point count, no new image)."""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from matsearch.core.ids import sha256_bytes
from matsearch_client import Client
from tests.conftest import LiveServer, png_bytes, synthetic_image

MAX_REQUEST = 3 * 1024 * 1024  # small limits, so that oversize probes stay cheap
MAX_UPLOAD = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``matsearch serve`` with no API key (the default), two figures ingested."""
    data_dir = tmp_path_factory.mktemp("open") / "data"
    data_dir.mkdir()
    env = {"MATSEARCH_MAX_REQUEST_BYTES": str(MAX_REQUEST), "MATSEARCH_MAX_UPLOAD_BYTES": str(MAX_UPLOAD)}
    server = LiveServer(data_dir, env=env)
    try:
        with Client(server.url) as ms:
            ms.ingest_figures(
                [png_bytes(synthetic_image(s)) for s in (301, 302)],
                metadata={"image_0.png": {"caption": "SEM of gold particles", "doi": "10.1/a"}},
            )
        yield server
    finally:
        server.stop()


def state(server: LiveServer) -> tuple[int, int]:
    """(points in figures, image files on disk): a refused request changes neither."""
    count = httpx.get(f"{server.url}/healthz").json()["collections"].get("figures", 0)
    files = sum(1 for p in (server.data_dir / "images").rglob("*") if p.is_file())
    return count, files


def test_exsclaim_never_reads_server_paths(open_server: LiveServer, tmp_path: Path) -> None:
    secret = png_bytes(synthetic_image(999))
    (tmp_path / "secret.png").write_bytes(secret)  # a real image on the server's disk
    results = {
        "abs": {"figure_path": str(tmp_path / "secret.png"), "full_caption": "x", "master_images": []},
        "rel": {"figure_path": "../../../../../../../etc/passwd", "full_caption": "x", "master_images": []},
        "../../etc/hostname": {"full_caption": "x", "master_images": []},
    }
    before = state(open_server)
    r = httpx.post(
        f"{open_server.url}/v1/ingest/exsclaim",
        files={"results": ("exsclaim.json", json.dumps(results).encode(), "application/json")},
    )
    assert r.status_code == 400 and "among the uploads" in r.json()["detail"]
    assert state(open_server) == before
    assert httpx.get(f"{open_server.url}/v1/images/{sha256_bytes(secret)}").status_code == 404
    # the same JSON with an upload named like the file: the upload is ingested, never the file on disk
    uploaded = png_bytes(synthetic_image(998))
    r = httpx.post(
        f"{open_server.url}/v1/ingest/exsclaim",
        files=[
            ("results", ("exsclaim.json", json.dumps(results).encode(), "application/json")),
            ("files", ("secret.png", uploaded, "image/png")),
        ],
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["points"] == 1 and {s["item"] for s in report["skipped"]} == {"rel", "../../etc/hostname"}
    point = httpx.get(f"{open_server.url}/v1/points/figures/{report['ids'][0]}").json()
    assert point["payload"]["image_sha256"] == sha256_bytes(uploaded)
    assert point["payload"]["provenance"]["exsclaim_json"] == "exsclaim.json"
    assert httpx.get(f"{open_server.url}/v1/images/{sha256_bytes(secret)}").status_code == 404


def test_upload_names_are_plain(open_server: LiveServer) -> None:
    before = state(open_server)
    bad = [("..", b"x"), ("some/dir/", b"x"), ("a\\..", b"x")]
    for name, data in bad:
        r = httpx.post(f"{open_server.url}/v1/ingest/figures", files={"files": (name, data, "image/png")})
        assert r.status_code == 400, (name, r.text)
    assert state(open_server) == before
    data = png_bytes(synthetic_image(303))
    r = httpx.post(f"{open_server.url}/v1/ingest/figures", files={"files": ("../../../tmp/evil.png", data)})
    assert r.status_code == 200
    assert (
        httpx.get(f"{open_server.url}/v1/points/figures/{r.json()['ids'][0]}").json()["payload"]["source_file"]
        == "evil.png"
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://127.0.0.1.evil.example"},
    ],
    ids=["foreign", "null", "sec-fetch-site", "lookalike"],
)
def test_cross_origin_writes_refused(open_server: LiveServer, headers: dict[str, str]) -> None:
    before = state(open_server)
    data = png_bytes(synthetic_image(304))
    r = httpx.post(f"{open_server.url}/v1/ingest/figures", files={"files": ("x.png", data)}, headers=headers)
    assert r.status_code == 403 and "refused" in r.json()["detail"]
    r = httpx.post(f"{open_server.url}/v1/search/image", files={"file": ("x.png", data)}, headers=headers)
    assert r.status_code == 403
    r = httpx.request(
        "PATCH",
        f"{open_server.url}/v1/points/figures/00000000-0000-0000-0000-000000000000/scale",
        json={"nm_per_px": 1.0},
        headers=headers,
    )
    assert r.status_code == 403
    assert state(open_server) == before
    assert httpx.get(f"{open_server.url}/v1/images/{sha256_bytes(data)}").status_code == 404


def test_dns_rebinding_and_cors(open_server: LiveServer) -> None:
    port = open_server.port
    data = png_bytes(synthetic_image(305))
    # evil.example resolving to 127.0.0.1: Origin and Host agree, but the host is not a loopback name
    rebound = {"Origin": f"http://evil.example:{port}", "Host": f"evil.example:{port}"}
    r = httpx.post(f"{open_server.url}/v1/search/image", files={"file": ("x.png", data)}, headers=rebound)
    assert r.status_code == 403 and "rebinding" in r.json()["detail"]
    # the web page itself (same origin, loopback) keeps working
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        host = origin.split("//")[1]
        r = httpx.post(
            f"{open_server.url}/v1/search/image?limit=1",
            files={"file": ("x.png", data)},
            headers={"Origin": origin, "Host": host},
        )
        assert r.status_code == 200, r.text
    # no CORS policy by default: a foreign page can read nothing
    r = httpx.get(f"{open_server.url}/v1/collections", headers={"Origin": "https://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    pre = httpx.options(
        f"{open_server.url}/v1/ingest/figures",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status_code >= 400 and "access-control-allow-origin" not in pre.headers


def _chunked_post(port: int, path: str, total: int) -> tuple[int, int]:
    """POST a multipart body of ``total`` file bytes with Transfer-Encoding: chunked (no Content-Length). Returns
    (status, bytes sent before the answer came)."""
    head = b'--zz\r\nContent-Disposition: form-data; name="files"; filename="big.png"\r\n\r\n'
    chunk = b"\x89PNG" + b"x" * 65532
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: multipart/form-data; boundary=zz\r\n\r\n".encode()
    )
    sock.sendall(f"{len(head):x}\r\n".encode() + head + b"\r\n")
    sent, answer = 0, b""
    sock.setblocking(False)
    try:
        while sent < total and not answer:
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
            except BlockingIOError:
                time.sleep(0.01)
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                answer += sock.recv(65536)
            except BlockingIOError:
                pass
        sock.setblocking(True)
        sock.settimeout(30)
        while b"\r\n\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, sent


def test_chunked_oversize_upload_is_cut_off(open_server: LiveServer) -> None:
    before = state(open_server)
    status, sent = _chunked_post(open_server.port, "/v1/ingest/figures", 40 * MAX_REQUEST)
    assert status == 413
    assert sent < 10 * MAX_REQUEST  # answered long before the client finished: the rest was never read
    r = httpx.post(f"{open_server.url}/v1/ingest/figures", files={"files": ("big.png", b"x" * (MAX_REQUEST + 1))})
    assert r.status_code == 413 and "MATSEARCH_MAX_REQUEST_BYTES" in r.json()["detail"]
    assert state(open_server) == before
    assert httpx.get(f"{open_server.url}/healthz").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        (
            "POST",
            "/v1/search/spectrum",
            {"content": b'{"x": [1, 2], "y": [\xff]}', "headers": {"content-type": "application/json"}},
            400,
        ),
        ("GET", "/v1/search/text", {"params": {"q": "gold", "filter": '{"a[": "b"}'}}, 422),
        ("GET", "/v1/search/text", {"params": {"q": "gold", "filter": '{"x y": 1, "$": 2}'}}, 422),
        ("GET", "/v1/search/text", {"params": {"q": "gold", "filter": '{"must": [' * 1000 + "]}" * 1000}}, 422),
        (
            "POST",
            "/v1/search/text",
            {
                "content": '{"q": "gold", "filter": ' + '{"must": [' * 5000 + "]}" * 5000 + "}",
                "headers": {"content-type": "application/json"},
            },
            400,
        ),
        ("GET", "/v1/search/text", {"params": {"q": "gold", "filter": '{"must": [' * 20 + "{}" + "]}" * 20}}, 422),
        ("POST", "/v1/search/text", {"json": {"q": "gold", "filter": {"must": [{"must": []}] * 2}}}, 200),
        ("POST", "/v1/ingest/figures", {"files": {"files": ("a.png", b"x")}, "data": {"metadata": "[" * 5000}}, 400),
        ("POST", "/v1/ingest/exsclaim", {"files": {"results": ("r.json", b"\xff\xfe")}}, 400),
        ("POST", "/v1/figures/split", {"files": {"file": ("f.png", b"GIF89a")}}, 415),
        ("GET", "/v1/points/figures/not-a-uuid", {}, 400),
        ("POST", "/v1/search/image", {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data"}}, 400),
    ],
    ids=[
        "spectrum-not-utf8",
        "filter-key-bracket",
        "filter-key-space",
        "filter-deep",
        "body-deep",
        "filter-depth-limit",
        "filter-ok",
        "metadata-deep",
        "exsclaim-not-utf8",
        "split-truncated",
        "bad-uuid",
        "multipart-no-boundary",
    ],
)
def test_former_500s_are_4xx(open_server: LiveServer, method: str, path: str, kwargs: dict, status: int) -> None:
    before = state(open_server)
    r = httpx.request(method, f"{open_server.url}{path}", timeout=60, **kwargs)
    assert r.status_code == status, r.text
    if status >= 400:
        assert r.json()["detail"]
        assert state(open_server) == before


def test_cif_symmetry_bomb_is_refused_before_expansion(open_server: LiveServer) -> None:
    lines = [
        "data_bomb",
        *(f"_cell_length_{a} 40" for a in "abc"),
        *(f"_cell_angle_{a} 90" for a in ("alpha", "beta", "gamma")),
        "_symmetry_space_group_name_H-M 'F m -3 m'",
        "loop_",
        "_atom_site_label",
        "_atom_site_type_symbol",
        "_atom_site_fract_x",
        "_atom_site_fract_y",
        "_atom_site_fract_z",
    ]
    lines += [f"Na{i} Na {0.001 * i + 0.01:.4f} {0.37 * i % 1:.4f} {0.71 * i % 1:.4f}" for i in range(200)]
    t0 = time.monotonic()
    r = httpx.post(
        f"{open_server.url}/v1/ingest/cif", files={"files": ("bomb.cif", "\n".join(lines).encode())}, timeout=120
    )
    elapsed = time.monotonic() - t0
    assert r.status_code == 200, r.text  # a per-file problem is a skip with its reason, like every other ingest
    assert r.json()["points"] == 0 and "positions to expand" in r.json()["skipped"][0]["reason"]
    print(f"refused in {elapsed:.2f} s (pymatgen would take minutes)")


def test_tiff_bomb_refused_from_header() -> None:
    import numpy as np
    import tifffile

    from matsearch.core.errors import TooLarge
    from matsearch.core.images import tiff_first_page
    from matsearch.core.settings import Settings

    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((20000, 20000), np.uint8), compression="zlib")  # ~0.4 GB decoded, <1 MB file
    with pytest.raises(TooLarge, match="pixels"):
        tiff_first_page(buf.getvalue(), Settings(max_image_pixels=10_000_000))


# -- schemathesis over the OpenAPI schema (last in this module: it writes whatever the schema allows) ----------------

# GET /v1/stem/simulate loads the whole structure library on its first call (tens of seconds on a fresh data dir,
# minutes on a busy machine); it is fuzzed like every other operation, with a long per-request timeout.
FUZZ_EXAMPLES = 3  # per operation and mode: bounded, so the run stays around a minute on a shared machine


def test_schemathesis_finds_no_server_error(open_server: LiveServer) -> None:
    """Requests generated from the OpenAPI schema — valid (positive) and invalid (negative) ones, for every
    operation — never get a 5xx. Hypothesis drives schemathesis' per-operation strategies directly (its lazy pytest
    fixture does not run under pytest 9); examples are bounded and derandomised."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.core.result import Ok
    from schemathesis.generation.modes import GenerationMode

    schema = schemathesis.openapi.from_url(f"{open_server.url}/openapi.json")
    server_errors: list[str] = []
    tested: list[str] = []
    spent: dict[str, float] = {}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=FUZZ_EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                t0 = time.monotonic()
                response = case.call(timeout=600)
                tested.append(case.operation.label)
                spent[case.operation.label] = spent.get(case.operation.label, 0.0) + time.monotonic() - t0
                if response.status_code >= 500:
                    server_errors.append(f"{response.status_code} {case.as_curl_command()}")

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
                assert mode is GenerationMode.NEGATIVE
    print(f"{len(tested)} generated requests over {len(set(tested))} operations")
    print("slowest:", sorted(spent.items(), key=lambda kv: -kv[1])[:5])
    assert len(set(tested)) >= 21  # every operation was reached (a parameterless one has no negative case)
    assert not server_errors, "\n".join(server_errors[:10])
