"""Open-access fetcher: DOIs or a search query → Europe PMC (JATS full text) → figure items with captions and licence.

Only openly licensed articles are kept (a Creative Commons licence or CC0 in the article's ``<permissions>``);
others are skipped with the reason. The fetcher is polite: one request at a time with a minimum interval
(``rate_limit_s``), retries with exponential back-off on 429/5xx and network errors (honouring ``Retry-After``), a
descriptive User-Agent, and an on-disk cache (``cache_dir``), so repeating a run costs no requests. Endpoints are
parameters, so tests serve recorded pages from a local HTTP server.

Europe PMC REST API:
- search: ``{api}/search?query=...&format=json&resultType=core&pageSize=N`` (``DOI:"10.x/y"`` for a DOI);
- full text: ``{api}/{PMCID}/fullTextXML`` (JATS);
- figure files: ``{files}/{PMCID}/bin/{graphic href}.jpg``.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import xml.etree.ElementTree as ET  # types only: parsing goes through defusedxml
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from matsearch.core.errors import BadInput, MatsearchError, NotFound, TooLarge
from matsearch.indexer.items import FigureItem

EUROPE_PMC_API = "https://www.ebi.ac.uk/europepmc/webservices/rest"
EUROPE_PMC_FILES = "https://europepmc.org/articles"
USER_AGENT = "matsearch/0.1 (open-access figure indexer; +https://github.com/matsearch)"
_XLINK = "{http://www.w3.org/1999/xlink}href"
_OPEN_LICENCE = re.compile(r"creativecommons\.org/(licenses|publicdomain)/|\bCC[- ]?BY\b|\bCC0\b|public domain", re.I)


class FetchError(MatsearchError):
    status = 502


@dataclass
class Fetcher:
    api: str = EUROPE_PMC_API
    files: str = EUROPE_PMC_FILES
    cache_dir: Path | None = None
    rate_limit_s: float = 0.5
    retries: int = 3
    backoff_s: float = 1.0
    timeout_s: float = 30.0
    user_agent: str = USER_AGENT
    max_bytes: int = 64 * 1024 * 1024  # a response larger than this is refused (MATSEARCH_FETCH_MAX_BYTES)
    max_redirects: int = 5  # http(s) only, never from a public host to a local one (MATSEARCH_FETCH_MAX_REDIRECTS)
    requests_made: int = 0
    _last: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        import requests

        self._session = requests.Session()
        self._session.headers["User-Agent"] = self.user_agent

    # -- HTTP with cache, rate limit and retries ---------------------------------------------------------------

    def _cache_path(self, url: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / hashlib.sha256(url.encode()).hexdigest()[:32]

    def get(self, url: str, params: dict[str, Any] | None = None) -> bytes:
        import requests

        full = requests.Request("GET", url, params=params).prepare().url or url
        cached = self._cache_path(full)
        if cached is not None and cached.exists():
            return cached.read_bytes()
        delay = self.backoff_s
        last_error = ""
        for attempt in range(self.retries + 1):
            with self._lock:
                wait = self._last + self.rate_limit_s - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self._last = time.monotonic()
                self.requests_made += 1
            try:
                resp = self._get_following(full)
            except requests.RequestException as exc:
                last_error = str(exc)
            else:
                if resp.status_code == 200:
                    content = self._read_capped(resp, full)
                    if cached is not None:
                        cached.parent.mkdir(parents=True, exist_ok=True)
                        tmp = cached.with_suffix(".part")
                        tmp.write_bytes(content)
                        tmp.replace(cached)
                    return content
                if resp.status_code == 404:
                    raise NotFound(f"not found: {full}")
                last_error = f"HTTP {resp.status_code}"
                if resp.status_code not in (429, 500, 502, 503, 504):
                    break
                retry_after = resp.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    delay = max(delay, float(retry_after))
            if attempt < self.retries:
                time.sleep(delay)
                delay *= 2
        raise FetchError(f"fetching {full} failed: {last_error}")

    def _get_following(self, url: str) -> Any:
        """GET with redirects followed by hand: at most ``max_redirects``, http(s) only, and never from a public
        host to a loopback/private/link-local one (a redirect must not turn the fetcher against the local network)."""
        current = url
        for _ in range(self.max_redirects + 1):
            resp = self._session.get(current, timeout=self.timeout_s, stream=True, allow_redirects=False)
            if resp.status_code not in (301, 302, 303, 307, 308) or "location" not in resp.headers:
                return resp
            target = urljoin(current, resp.headers["location"])
            resp.close()
            check_redirect(current, target)
            current = target
        raise FetchError(f"fetching {url} failed: more than {self.max_redirects} redirects")

    def _read_capped(self, resp: Any, url: str) -> bytes:
        length = resp.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            resp.close()
            raise TooLarge(f"{url}: response of {length} bytes is larger than the limit of {self.max_bytes} bytes")
        chunks, total = [], 0
        for chunk in resp.iter_content(64 * 1024):
            total += len(chunk)
            if total > self.max_bytes:
                resp.close()
                raise TooLarge(f"{url}: response is larger than the limit of {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    # -- Europe PMC ---------------------------------------------------------------------------------------------

    def search(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        import json

        raw = self.get(
            f"{self.api}/search",
            {"query": query, "format": "json", "resultType": "core", "pageSize": str(min(100, limit))},
        )
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise FetchError(f"search answer is not JSON: {exc}") from exc
        results: list[dict[str, Any]] = data.get("resultList", {}).get("result", [])
        return results[:limit]

    def lookup_doi(self, doi: str) -> dict[str, Any] | None:
        hits = self.search(f'DOI:"{doi}"', limit=1)
        return hits[0] if hits else None

    def full_text(self, pmcid: str) -> bytes:
        return self.get(f"{self.api}/{pmcid}/fullTextXML")

    def figure_file(self, pmcid: str, href: str) -> bytes:
        name = href if re.search(r"\.(jpe?g|png|gif|tiff?)$", href, re.I) else f"{href}.jpg"
        return self.get(f"{self.files}/{pmcid}/bin/{name}")


def _is_local(host: str) -> bool:
    import ipaddress

    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost") or host.endswith(".local"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_unspecified


def check_redirect(source: str, target: str) -> None:
    """FetchError unless a redirect from ``source`` to ``target`` is allowed (see ``Fetcher._get_following``)."""
    src, dst = urlsplit(source), urlsplit(target)
    if dst.scheme not in ("http", "https") or not dst.hostname:
        raise FetchError(f"refusing to follow a redirect from {source} to {target!r} (http and https only)")
    if src.scheme == "https" and dst.scheme != "https":
        raise FetchError(f"refusing to follow a redirect from {source} to {target} (https → http)")
    if _is_local(dst.hostname) and not _is_local(src.hostname or ""):
        raise FetchError(f"refusing to follow a redirect from {source} to a local address {target}")


@dataclass
class Article:
    pmcid: str
    doc: dict[str, Any]
    figures: list[tuple[str, str, str]]  # (figure id/label, caption, graphic href)


def _text(el: ET.Element | None) -> str:
    if el is None:
        return ""
    return re.sub(r"\s+", " ", "".join(el.itertext())).strip()


def parse_jats(xml: bytes, pmcid: str, hit: dict[str, Any] | None = None) -> Article:
    """Document fields, licence and figures (label, caption, graphic) of a JATS article."""
    try:
        root = SafeET.fromstring(xml, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:  # entity expansion ("billion laughs"), external entities
        raise BadInput(f"{pmcid}: full text refused: {type(exc).__name__} ({exc})") from exc
    except ET.ParseError as exc:
        raise BadInput(f"{pmcid}: full text is not valid XML ({exc})") from exc
    meta = root.find(".//article-meta")
    doc: dict[str, Any] = {}
    if meta is not None:
        doc["title"] = _text(meta.find(".//article-title"))
        for aid in meta.findall("article-id"):
            if aid.get("pub-id-type") == "doi":
                doc["doi"] = _text(aid)
        year = meta.find(".//pub-date/year")
        if year is not None and _text(year).isdigit():
            doc["year"] = int(_text(year))
        lic = meta.find(".//permissions/license")
        if lic is not None:
            href = lic.get(_XLINK) or ""
            ref = next((_text(e) for e in lic.iter() if e.tag.endswith("license_ref")), "")
            doc["licence"] = ref or href or _text(lic)[:200]
    journal = root.find(".//journal-meta//journal-title")
    if journal is not None:
        doc["journal"] = _text(journal)
    if hit:
        doc.setdefault("doi", hit.get("doi"))
        doc.setdefault("title", hit.get("title"))
        if "year" not in doc and str(hit.get("pubYear", "")).isdigit():
            doc["year"] = int(hit["pubYear"])
        if "licence" not in doc and hit.get("license"):
            doc["licence"] = hit["license"]
    if doc.get("doi"):
        doc["url"] = f"https://doi.org/{doc['doi']}"
    figures: list[tuple[str, str, str]] = []
    for fig in root.iter("fig"):
        graphic = fig.find(".//graphic")
        if graphic is None or not graphic.get(_XLINK):
            continue
        label = _text(fig.find("label")) or fig.get("id") or f"Fig. {len(figures) + 1}"
        cap = fig.find("caption")
        caption = _text(cap)
        figures.append((label, caption, str(graphic.get(_XLINK))))
    return Article(pmcid, {k: v for k, v in doc.items() if v}, figures)


def is_open_licence(licence: str | None) -> bool:
    return bool(licence and _OPEN_LICENCE.search(licence))


def fetch_articles(
    fetcher: Fetcher,
    *,
    dois: Iterable[str] = (),
    query: str | None = None,
    limit: int = 10,
    skipped: list[str] | None = None,
) -> Iterator[FigureItem]:
    """Figure items of open-access articles given by DOIs and/or a search query."""
    skipped = skipped if skipped is not None else []
    hits: list[dict[str, Any]] = []
    for doi in dois:
        hit = fetcher.lookup_doi(doi)
        if hit is None:
            skipped.append(f"{doi}: not found in Europe PMC")
        else:
            hits.append(hit)
    if query:
        hits.extend(fetcher.search(query, limit=limit))
    for hit in hits:
        pmcid = hit.get("pmcid")
        ident = hit.get("doi") or hit.get("id") or "?"
        if not pmcid or str(hit.get("isOpenAccess", "N")).upper() != "Y":
            skipped.append(f"{ident}: no open-access full text")
            continue
        try:
            article = parse_jats(fetcher.full_text(pmcid), pmcid, hit)
        except MatsearchError as exc:
            skipped.append(f"{ident}: {exc.message}")
            continue
        if not is_open_licence(article.doc.get("licence")):
            skipped.append(f"{ident}: licence {article.doc.get('licence')!r} is not an open licence; not stored")
            continue
        if not article.figures:
            skipped.append(f"{ident}: article has no figures")
            continue
        for label, caption, href in article.figures:
            try:
                data = fetcher.figure_file(pmcid, href)
            except MatsearchError as exc:
                skipped.append(f"{ident} {label}: {exc.message}")
                continue
            yield FigureItem(
                data=data,
                name=f"{pmcid}-{href.rsplit('/', 1)[-1]}",
                caption=caption or None,
                doc=dict(article.doc),
                figure_id=f"{article.doc.get('doi') or pmcid}/{label}",
                source="fetch",
                provenance={"pmcid": pmcid, "graphic": href, "api": fetcher.api, "figure_label": label},
            )
