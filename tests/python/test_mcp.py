"""tingwen's MCP server driven by the reference MCP Python SDK (PyPI `mcp`).

Over streamable HTTP (env TINGWEN_MCP_URL, e.g. http://127.0.0.1:8080/mcp)
and over stdio (env TINGWEN_MCP_CMD, e.g. "target/debug/tingwen --data-dir X
mcp"): initialize, list the tools, call each tool, and check that bad
arguments come back as tool errors (isError) while the server keeps serving.
A transport whose variable is unset is skipped; with neither set, the script
fails. TINGWEN_API_KEY, when set, is sent as `Authorization: Bearer` over HTTP.

    python tests/python/test_mcp.py

Prints `N passed, M failed` last and exits non-zero on any failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
import traceback
from contextlib import asynccontextmanager

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

EXPECTED_TOOLS = {"search_transcripts", "ask", "get_passage", "list_documents"}
DEV_SET = os.environ.get(
    "TINGWEN_DEV_JSONL",
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "eval", "dev.jsonl"),
)
TIMEOUT_S = float(os.environ.get("TINGWEN_MCP_TIMEOUT_S", "300"))

results = {"passed": 0, "failed": 0}


def check(name: str, condition: bool, detail: str = "") -> None:
    if condition:
        results["passed"] += 1
        print(f"ok   {name}")
    else:
        results["failed"] += 1
        print(f"FAIL {name}" + (f"\n     {detail}" if detail else ""))


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


def dev_question(qid: str, fallback: str) -> str:
    try:
        with open(DEV_SET, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    item = json.loads(line)
                    if item["id"] == qid:
                        return item["question"]
    except OSError:
        pass
    return fallback


@asynccontextmanager
async def http_session(url: str):
    headers = {}
    if os.environ.get("TINGWEN_API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['TINGWEN_API_KEY']}"
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write, read_timeout_seconds=TIMEOUT_S) as session:
                yield session


@asynccontextmanager
async def stdio_session(command: str):
    argv = shlex.split(command)
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=TIMEOUT_S) as session:
            yield session


async def exercise(label: str, session: ClientSession) -> None:
    init = await session.initialize()
    check(f"{label}: initialize names the server and offers tools",
          init.server_info.name == "tingwen" and init.capabilities.tools is not None,
          f"server_info={init.server_info!r} capabilities={init.capabilities!r}")

    listed = await session.list_tools()
    tools = {tool.name: tool for tool in listed.tools}
    check(f"{label}: list_tools has the four tools", set(tools) == EXPECTED_TOOLS, f"got {sorted(tools)}")
    schemas_ok = all(
        tool.description and len(tool.description) > 40 and tool.input_schema.get("type") == "object"
        for tool in tools.values()
    )
    check(f"{label}: every tool has a description and an object schema", schemas_ok)
    search_schema = tools.get("search_transcripts").input_schema if "search_transcripts" in tools else {}
    check(f"{label}: search_transcripts schema requires query and offers k, doc_id, speaker",
          search_schema.get("required") == ["query"]
          and {"query", "k", "doc_id", "speaker"} <= set(search_schema.get("properties", {})),
          json.dumps(search_schema)[:300])

    docs = await session.call_tool("list_documents", {})
    documents = (docs.structured_content or {}).get("documents", [])
    check(f"{label}: list_documents returns documents as text and structured content",
          not docs.is_error and len(documents) > 0 and documents[0]["doc_id"] in text_of(docs),
          text_of(docs)[:300])

    query = dev_question("d001", "张璐觉得最超出她预期的转变是什么？")
    search = await session.call_tool("search_transcripts", {"query": query, "k": 3})
    hits = (search.structured_content or {}).get("results", [])
    check(f"{label}: search_transcripts returns up to k passages with offsets",
          not search.is_error and 0 < len(hits) <= 3
          and all({"doc_id", "title", "text", "start", "end"} <= set(hit) for hit in hits)
          and hits[0]["text"] in text_of(search),
          text_of(search)[:300])

    if hits:
        one_doc = await session.call_tool(
            "search_transcripts", {"query": query, "k": 5, "doc_id": hits[0]["doc_id"]})
        one_doc_hits = (one_doc.structured_content or {}).get("results", [])
        check(f"{label}: search_transcripts honours doc_id",
              not one_doc.is_error and one_doc_hits
              and all(hit["doc_id"] == hits[0]["doc_id"] for hit in one_doc_hits),
              text_of(one_doc)[:300])

        hit = hits[0]
        passage = await session.call_tool(
            "get_passage", {"doc_id": hit["doc_id"], "start": hit["start"], "end": hit["end"], "context": 100})
        body = passage.structured_content or {}
        check(f"{label}: get_passage returns the exact passage with context",
              not passage.is_error and body.get("text") == hit["text"]
              and "before" in body and "after" in body and hit["text"] in text_of(passage),
              text_of(passage)[:300])

    question = dev_question("d004", "What valuation numbers did Bruce give for SpaceX?")
    answer = await session.call_tool("ask", {"question": question, "mode": "extractive"})
    body = answer.structured_content or {}
    citations = body.get("citations", [])
    check(f"{label}: ask returns an answer with its citations",
          not answer.is_error and isinstance(body.get("answer"), str) and body["answer"]
          and (citations or body.get("refused"))
          and all(c["text"] in text_of(answer) for c in citations),
          text_of(answer)[:400])

    bad_calls = [
        ("search_transcripts", {}),
        ("search_transcripts", {"query": "x", "k": 0}),
        ("search_transcripts", {"query": "x", "k": "many"}),
        ("ask", {"question": "   "}),
        ("ask", {"question": "hi", "mode": "telepathy"}),
        ("get_passage", {"doc_id": "../../etc/passwd", "start": 0, "end": 5}),
        ("get_passage", {"doc_id": "no-such-document.txt", "start": 0, "end": 5}),
        ("get_passage", {"doc_id": "x.txt", "start": 9, "end": 2}),
    ]
    for tool, arguments in bad_calls:
        try:
            result = await session.call_tool(tool, arguments)
            check(f"{label}: {tool}({json.dumps(arguments, ensure_ascii=False)}) is a tool error",
                  bool(result.is_error) and text_of(result).startswith(f"{tool} failed"),
                  text_of(result)[:200])
        except Exception as error:  # a protocol error or a crash is a failure here
            check(f"{label}: {tool}({arguments}) is a tool error", False, f"raised {error!r}")

    still = await session.call_tool("list_documents", {})
    check(f"{label}: the server still answers after the bad calls", not still.is_error)


async def run(label: str, opener, target: str) -> None:
    try:
        async with opener(target) as session:
            await asyncio.wait_for(exercise(label, session), TIMEOUT_S)
    except Exception as error:
        traceback.print_exc()
        check(f"{label}: session completed", False, repr(error))


async def main() -> int:
    url = os.environ.get("TINGWEN_MCP_URL")
    command = os.environ.get("TINGWEN_MCP_CMD")
    if not url and not command:
        check("TINGWEN_MCP_URL or TINGWEN_MCP_CMD is set", False, "nothing to test")
    if url:
        await run("http", http_session, url)
    else:
        print("skip http: TINGWEN_MCP_URL not set")
    if command:
        await run("stdio", stdio_session, command)
    else:
        print("skip stdio: TINGWEN_MCP_CMD not set")
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 0 if results["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
