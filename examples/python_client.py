"""The official Python `convex` client against the chat example: subscribe, mutate, watch the update.

    make example-chat      # in one terminal: serves examples/chat on http://127.0.0.1:3211
    make example-python    # in another

Options: --url (default http://127.0.0.1:3211), --channel, --author, --message, --watch
(keep printing the channel as it changes, until Ctrl-C).
"""

from __future__ import annotations

import argparse

from convex import ConvexClient, ConvexError


def show(label: str, messages: list[dict]) -> None:
    lines = [f"{m['author']}: {m['body']}" for m in reversed(messages)]  # oldest first
    print(f"{label} ({len(messages)} messages)" + "".join(f"\n  {line}" for line in lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3211")
    parser.add_argument("--channel", default="general")
    parser.add_argument("--author", default="python")
    parser.add_argument("--message", default="hello from the Python client")
    parser.add_argument("--watch", action="store_true", help="keep printing updates until interrupted")
    args = parser.parse_args()

    client = ConvexClient(args.url)
    channel = client.mutation("channels:create", {"name": args.channel})

    # A subscription yields the current result at once, then every new one.
    updates = iter(client.subscribe("messages:recent", {"channel": channel, "count": 10}))
    show(f"#{args.channel} now", next(updates))

    message_id = client.mutation("messages:send", {"channel": channel, "author": args.author, "body": args.message})
    print(f"sent {message_id}", flush=True)
    show(f"#{args.channel} after sending", next(updates))

    # ConvexError data arrives as `.data`.
    try:
        client.mutation("messages:send", {"channel": channel, "author": args.author, "body": "   "})
    except ConvexError as err:
        print(f"refused an empty message: {err.data}", flush=True)

    found = client.query("messages:search", {"channel": channel, "text": args.message.split()[0]})
    print(f"search {args.message.split()[0]!r}: {len(found)} match(es)", flush=True)
    print(f"summary: {client.action('messages:summarize', {'channel': channel})}", flush=True)

    if args.watch:
        print("watching; Ctrl-C to stop", flush=True)
        try:
            for messages in updates:
                show(f"#{args.channel}", messages)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
