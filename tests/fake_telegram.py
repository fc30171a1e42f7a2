"""A local fake of the Telegram Bot API server, for end-to-end tests.

The bot under test talks to it over real HTTP (aiogram's own ``AiohttpSession`` pointed at
``TelegramAPIServer.from_base(fake.api_url)``), so requests are serialised exactly as in
production. The fake answers the way Telegram does: the same object shapes, the same error codes
and the same error texts for the mistakes a bot can make (unparsable HTML, over-long texts,
oversized callback data, edits that change nothing, unknown chats, stale callback queries,
unprocessable photos...). Tests act as the person in the Telegram app through ``user_*`` methods
(or :class:`tests.chat_client.ChatClient`) and wait on the fake's state with :meth:`wait_for`.

Texts are stored as Telegram stores them: HTML parsed with TDLib's rules (tags stripped, entities
decoded, a bare ``&`` kept literally unless ``strict_ampersand``), control characters cleaned and
surrounding whitespace trimmed. Photos must be real images within Telegram's limits (width +
height at most 10000, sides at most 1:20, 10 MB): a tall full-page screenshot is refused with
PHOTO_INVALID_DIMENSIONS, as in production; :func:`png_bytes` makes valid test images.

Telegram's flood limits are emulated on request: after :meth:`FakeTelegram.enforce_flood_limits`
the calls that make or change messages (:data:`FLOOD_LIMITED_METHODS`) are refused with Telegram's
429 and ``retry_after`` beyond one a second in a private chat, 20 a minute in a group and 30 a
second over all chats, so that a test can prove the bot paces itself; and
:meth:`FakeTelegram.max_calls_in_window` measures how closely it did, enforced or not.

Not emulated: Markdown parse modes (their text is kept as sent), inline-mode messages, media
groups, webhooks, Telegram's flood limits unless enforced (and then as exact sliding windows, where
Telegram's own are fuzzier; inject one-off 429s with :meth:`FakeTelegram.fail_next`), the expiry of
unanswered callback queries.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import json
import math
import mimetypes
import re
import struct
import time
import traceback
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

__all__ = [
    "FLOOD_LIMITED_METHODS",
    "ApiCall",
    "BotApiError",
    "CallbackAnswer",
    "CallbackQuery",
    "FakeTelegram",
    "FloodLimits",
    "StoredFile",
    "StoredMessage",
    "parse_html",
    "png_bytes",
]

T = TypeVar("T")

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
ANSWER_TEXT_LIMIT = 200
PHOTO_SIZE_LIMIT = 10 * 1024 * 1024
UPLOAD_LIMIT = 50 * 1024 * 1024
DOWNLOAD_LIMIT = 20 * 1024 * 1024

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)

# The methods that make or change a message in a chat: what Telegram's flood limits count.
# Answers to callback queries, chat actions, polling and settings are not messages.
FLOOD_LIMITED_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "deleteMessage",
    }
)
_FLOOD_LIMITED_KEYS = frozenset(method.lower() for method in FLOOD_LIMITED_METHODS)
# How far back admitted calls are kept at least: the longest default window (a group's minute)
# plus a margin for calls whose body is still being read when later ones are counted.
_FLOOD_HISTORY = 70.0

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

# Update types Telegram sends when allowed_updates is empty or was never given.
_DEFAULT_UPDATE_EXCLUSIONS = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)

# Form fields whose values aiogram (and any client) sends JSON-encoded.
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
        "reply_parameters",
        "link_preview_options",
        "media",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "reply_to_message_id",
        "message_thread_id",
        "user_id",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "show_alert",
        "drop_pending_updates",
        "disable_notification",
        "protect_content",
        "has_spoiler",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "show_caption_above_media",
    }
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_INT_RE = re.compile(r"-?\d+")
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_BOT_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")


class BotApiError(Exception):
    """A refusal, answered as ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after


def _bad_request(description: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {description}")


@dataclass
class ApiCall:
    """One request the bot made, whatever came of it.

    ``params`` are normalised so form and JSON requests look alike: JSON-encoded fields
    (reply_markup, entities, ...) are decoded, ids and booleans are numbers and bools. ``files``
    maps the parameter an upload was for (``photo``, ``document``) to its bytes. ``time`` is when
    the request reached the fake (``time.monotonic()``), or when a :meth:`FakeTelegram.stall_next`
    hold ended, since a held request is one still on its way to Telegram.

    ``flood_limit`` names the emulated flood limit that refused the call (see
    :meth:`FakeTelegram.enforce_flood_limits`), e.g. ``"private chat 4242: at most 1 call per
    0.9s"``; None for every other call, injected 429s included, which answer the same.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    time: float
    ok: bool = False
    error_code: int | None = None
    description: str | None = None
    result: Any = None
    flood_limit: str | None = None

    @property
    def flood_limited(self) -> bool:
        """Refused by the emulation of Telegram's flood limits (not by :meth:`fail_next`)."""
        return self.flood_limit is not None


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's flood limits as :meth:`FakeTelegram.enforce_flood_limits` enforces them.

    Each limit is a number of calls allowed in any sliding window, the window shortened by
    ``tolerance`` (0.1: a 1 s window is 0.9 s) because spacing is measured at arrival, where
    network jitter brings a well-paced client's calls a few milliseconds closer together.
    """

    private_per_second: float = 1
    group_per_minute: int = 20
    overall_per_second: int = 30
    tolerance: float = 0.1

    def __post_init__(self) -> None:
        if not self.private_per_second > 0:
            raise ValueError("private_per_second must be positive")
        if self.group_per_minute < 1 or self.overall_per_second < 1:
            raise ValueError("group_per_minute and overall_per_second must be at least 1")
        if not 0 <= self.tolerance < 1:
            raise ValueError("tolerance must be at least 0 and less than 1")

    @property
    def private_window(self) -> tuple[int, float]:
        """(calls, seconds) for one private chat: ``n`` calls per ``n / rate`` seconds, ``n`` the
        whole part of the rate (at least 1), so 1 means one per second, 3 three in any second and
        0.5 one per two seconds."""
        calls = max(1, math.floor(self.private_per_second))
        return calls, calls / self.private_per_second * (1 - self.tolerance)

    @property
    def group_window(self) -> tuple[int, float]:
        """(calls, seconds) for one group, supergroup or channel."""
        return self.group_per_minute, 60 * (1 - self.tolerance)

    @property
    def overall_window(self) -> tuple[int, float]:
        """(calls, seconds) over all chats together."""
        return self.overall_per_second, 1 - self.tolerance


@dataclass(frozen=True)
class CallbackAnswer:
    """How the bot answered a callback query."""

    text: str | None
    show_alert: bool
    url: str | None = None
    cache_time: int | None = None


@dataclass
class CallbackQuery:
    """A button press sent to the bot, and its answer once given."""

    id: str
    chat_id: int
    user_id: int
    message_id: int
    data: str
    answer: CallbackAnswer | None = None


@dataclass
class StoredFile:
    """A file Telegram holds: uploaded by the bot or sent by a user."""

    file_id: str
    file_unique_id: str
    kind: str  # "photo" or "document"
    content: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class _Text:
    """A text or caption as Telegram keeps it; entity offsets in UTF-16 code units."""

    plain: str
    entities: tuple[dict[str, Any], ...]
    raw: str

    def same_content(self, other: _Text | None) -> bool:
        return other is not None and (self.plain, self.entities) == (other.plain, other.entities)


@dataclass
class StoredMessage:
    """A message in a chat, in its current version.

    ``text`` is the text or the caption (Telegram's plain text, after parsing); ``html`` is what
    the bot sent for it, before parsing. ``history`` holds the earlier texts, oldest first, one per
    edit that changed the text.
    """

    chat: dict[str, Any]
    message_id: int
    sender: dict[str, Any]
    date: int
    body: _Text | None = None
    photo: StoredFile | None = None
    photo_sizes: list[dict[str, Any]] | None = None
    document: StoredFile | None = None
    reply_markup: dict[str, Any] | None = None
    reply_to: dict[str, Any] | None = None
    edit_date: int | None = None
    edit_count: int = 0
    history: list[str] = field(default_factory=list)
    deleted: bool = False

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    @property
    def from_bot(self) -> bool:
        return bool(self.sender.get("is_bot"))

    @property
    def has_media(self) -> bool:
        return self.photo is not None or self.document is not None

    @property
    def text(self) -> str | None:
        return self.body.plain if self.body else None

    @property
    def html(self) -> str | None:
        return self.body.raw if self.body else None

    @property
    def entities(self) -> list[dict[str, Any]]:
        return [dict(entity) for entity in self.body.entities] if self.body else []

    def to_api(self) -> dict[str, Any]:
        """The Bot API ``Message`` object."""
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "from": dict(self.sender),
            "chat": dict(self.chat),
            "date": self.date,
        }
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if self.reply_to is not None:
            data["reply_to_message"] = self.reply_to
        if self.photo_sizes is not None:
            data["photo"] = [dict(size) for size in self.photo_sizes]
        if self.document is not None:
            data["document"] = _document_object(self.document)
        if self.body is not None:
            if self.has_media:
                data["caption"] = self.body.plain
                if self.body.entities:
                    data["caption_entities"] = self.entities
            else:
                data["text"] = self.body.plain
                if self.body.entities:
                    data["entities"] = self.entities
        if self.reply_markup is not None:
            data["reply_markup"] = json.loads(json.dumps(self.reply_markup))
        return data


@dataclass
class _Failure:
    error_code: int
    description: str
    retry_after: int | None
    remaining: int


@dataclass
class _Upload:
    filename: str
    content: bytes


@dataclass
class _FloodHistory:
    """Arrival times, sorted, of the calls Telegram's flood limits count: per chat and overall.

    Kept whether or not the limits are enforced, so that enforcing them mid-test counts what
    Telegram would already have counted.
    """

    by_chat: dict[int, list[float]] = field(default_factory=dict)
    overall: list[float] = field(default_factory=list)


# --- Telegram's HTML ----------------------------------------------------------------------------

_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "tg-time",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_END = "\0"  # what TDLib reads past the end of its C string
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class HtmlParseError(Exception):
    """TDLib's reason for refusing an HTML text (Telegram prefixes "can't parse entities: ")."""


@dataclass
class _OpenTag:
    name: str
    argument: str
    offset: int  # in code points of the output


def _is_space(char: str) -> bool:
    return char in " \t\r\n\v\0"


def _is_ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _decode_html_entity(text: str, position: int) -> tuple[str, int] | None:
    """TDLib's decode_html_entity: ``&lt; &gt; &amp; &quot;`` and numeric references, with or
    without the ``;``. None for anything else, which Telegram then keeps literally."""

    def at(index: int) -> str:
        return text[index] if index < len(text) else _END

    end = position + 1
    if at(end) == "#":
        end += 1
        code = 0
        if at(end) == "x":
            end += 1
            while at(end) in _HEX_DIGITS:
                code = code * 16 + int(at(end), 16)
                end += 1
        else:
            while at(end).isascii() and at(end).isdigit():
                code = code * 10 + int(at(end))
                end += 1
        if code == 0 or code >= 0x10FFFF or end - position >= 10:
            return None
        decoded = chr(code)
    else:
        while at(end).isascii() and at(end).isalpha():
            end += 1
        found = _NAMED_HTML_ENTITIES.get(text[position + 1 : end])
        if found is None:
            return None
        decoded = found
    if at(end) == ";":
        end += 1
    return decoded, end


def parse_html(text: str, *, strict_ampersand: bool = False) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML the way TDLib's ``parse_html`` does.

    Telegram keeps a ``&`` that starts no known entity as literal text ("Tom & Jerry" is fine).
    ``strict_ampersand`` refuses it instead, a check of the fake's own for bots that must escape
    everything they interpolate.

    Returns the plain text and its entities, with offsets and lengths in code points (the caller
    converts them to UTF-16). Raises :class:`HtmlParseError` with TDLib's message, byte offsets
    counted in UTF-8 as Telegram counts them.
    """

    def at(index: int) -> str:
        return text[index] if index < len(text) else _END

    def byte_offset(index: int) -> int:
        return len(text[:index].encode("utf-8", "surrogatepass"))

    out: list[str] = []
    entities: list[dict[str, Any]] = []
    nested: list[_OpenTag] = []
    decoded_surrogate = False
    i = 0
    while i < len(text):
        char = text[i]
        if char == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is not None:
                out.append(decoded[0])
                decoded_surrogate |= 0xD800 <= ord(decoded[0]) <= 0xDFFF
                i = decoded[1]
                continue
            if strict_ampersand:
                raise HtmlParseError(
                    f'Unescaped "&" at byte offset {byte_offset(i)} (refused by '
                    "FakeTelegram(strict_ampersand=True); Telegram would keep it as text)"
                )
        if char != "<":
            out.append(char)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != "/":
            tag, i = _read_start_tag(text, begin, i, byte_offset)
            tag.offset = len(out)
            nested.append(tag)
            i += 1  # past '>'
            continue

        if not nested:
            raise HtmlParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
        while not _is_space(at(i)) and at(i) != ">":
            i += 1
        end_tag = text[begin + 2 : i].lower()
        while _is_space(at(i)) and at(i) != _END:
            i += 1
        if at(i) != ">":
            raise HtmlParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
        open_tag = nested[-1]
        if end_tag and end_tag != open_tag.name:
            raise HtmlParseError(
                f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                f'expected "</{open_tag.name}>", found "</{end_tag}>"'
            )
        if len(out) > open_tag.offset:
            _add_html_entity(entities, open_tag, len(out) - open_tag.offset, out)
        nested.pop()
        i += 1

    if nested:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{nested[-1].name}"')
    if decoded_surrogate:
        raise HtmlParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for "
            "unmatched surrogate code units"
        )
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    return "".join(out), sorted(entities, key=_entity_order)


def _read_start_tag(
    text: str, begin: int, i: int, byte_offset: Callable[[int], int]
) -> tuple[_OpenTag, int]:
    """Reads a start tag from its name on; returns it and the index of its closing '>'."""

    def at(index: int) -> str:
        return text[index] if index < len(text) else _END

    while not _is_space(at(i)) and at(i) != ">":
        i += 1
    if at(i) == _END:
        raise HtmlParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
    name = text[begin + 1 : i].lower()
    if name not in _HTML_TAGS:
        raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {byte_offset(begin)}')

    argument = ""
    while at(i) != ">":
        while at(i) != _END and _is_space(at(i)):
            i += 1
        if at(i) == ">":
            break
        attribute_begin = i
        while not _is_space(at(i)) and at(i) not in "=>/\"'":
            i += 1
        attribute = text[attribute_begin:i].lower()
        if not attribute:
            raise HtmlParseError(
                f'Empty attribute name in the tag "{name}" at byte offset {byte_offset(begin)}'
            )
        while at(i) != _END and _is_space(at(i)):
            i += 1
        if at(i) != "=":
            if at(i) == _END:
                raise HtmlParseError(
                    f'Unclosed start tag "{name}" at byte offset {byte_offset(begin)}'
                )
            if name == "blockquote" and attribute == "expandable":
                argument = "1"
            continue
        i += 1
        while at(i) != _END and _is_space(at(i)):
            i += 1
        if at(i) == _END:
            raise HtmlParseError(f'Unclosed start tag "{name}" at byte offset {byte_offset(begin)}')
        value, i = _read_attribute_value(text, i, byte_offset)
        if at(i) == _END:
            raise HtmlParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        if (name, attribute) in {("a", "href"), ("tg-emoji", "emoji-id")}:
            argument = value
        elif name == "code" and attribute == "class" and value.startswith("language-"):
            argument = value[len("language-") :]
        elif name == "span" and attribute == "class" and value.startswith("tg-"):
            argument = value[len("tg-") :]
        elif name == "blockquote" and attribute == "expandable":
            argument = "1"

    if name == "span" and argument != "spoiler":
        raise HtmlParseError(
            f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
        )
    return _OpenTag(name, argument, 0), i


def _read_attribute_value(text: str, i: int, byte_offset: Callable[[int], int]) -> tuple[str, int]:
    """An unquoted name token (lowercased) or a quoted string with its references decoded."""

    def at(index: int) -> str:
        return text[index] if index < len(text) else _END

    if at(i) not in ("'", '"'):
        token_begin = i
        while _is_ascii_alnum(at(i)) or at(i) in (".", "-"):
            i += 1
        if not _is_space(at(i)) and at(i) != ">":
            raise HtmlParseError(
                f"Unexpected end of name token at byte offset {byte_offset(token_begin)}"
            )
        return text[token_begin:i].lower(), i

    quote = at(i)
    i += 1
    value: list[str] = []
    while at(i) != quote and at(i) != _END:
        if at(i) == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is not None:
                value.append(decoded[0])
                i = decoded[1]
                continue
        value.append(at(i))
        i += 1
    if at(i) == quote:
        i += 1
    return "".join(value), i


def _add_html_entity(
    entities: list[dict[str, Any]], tag: _OpenTag, length: int, out: list[str]
) -> None:
    offset = tag.offset
    last = entities[-1] if entities else None
    same_span = last is not None and last["offset"] == offset and last["length"] == length
    if tag.name in _SIMPLE_ENTITY_TYPES:
        entities.append(
            {"type": _SIMPLE_ENTITY_TYPES[tag.name], "offset": offset, "length": length}
        )
    elif tag.name == "tg-emoji":
        if not (tag.argument.isascii() and tag.argument.isdigit() and int(tag.argument) > 0):
            raise HtmlParseError("Invalid custom emoji identifier specified")
        entities.append(
            {
                "type": "custom_emoji",
                "offset": offset,
                "length": length,
                "custom_emoji_id": tag.argument,
            }
        )
    elif tag.name == "a":
        url = tag.argument or "".join(out[offset:])
        if url:
            entities.append({"type": "text_link", "offset": offset, "length": length, "url": url})
    elif tag.name == "pre":
        if last is not None and same_span and last["type"] == "code" and "language" in last:
            last["type"] = "pre"
        else:
            entities.append({"type": "pre", "offset": offset, "length": length})
    elif tag.name == "code":
        if last is not None and same_span and last["type"] == "pre" and tag.argument:
            last["language"] = tag.argument
        else:
            entity: dict[str, Any] = {"type": "code", "offset": offset, "length": length}
            if tag.argument:
                entity["language"] = tag.argument
            entities.append(entity)
    elif tag.name == "blockquote":
        kind = "expandable_blockquote" if tag.argument else "blockquote"
        entities.append({"type": kind, "offset": offset, "length": length})
    # tg-time makes no entity here.


def _entity_order(entity: dict[str, Any]) -> tuple[int, int]:
    return entity["offset"], -entity["length"]


# Characters TDLib's clean_input_string drops: \r, bidi controls, three abused combining marks.
_DROPPED_CHARS = frozenset(
    {"\r", "\u0333", "\u033f", "\u030a"} | {chr(c) for c in range(0x2028, 0x202F)}
)


def _clean_and_trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Text as Telegram keeps it: control characters but \\n become spaces, a few characters go,
    trailing spaces and newlines are cut, leading ones up to the first entity. Offsets in code
    points."""
    mapping = [0] * (len(text) + 1)
    cleaned: list[str] = []
    for index, char in enumerate(text):
        mapping[index] = len(cleaned)
        if char in _DROPPED_CHARS:
            continue
        cleaned.append(" " if char < " " and char != "\n" else char)
    mapping[len(text)] = len(cleaned)
    moved = []
    for entity in entities:
        start = min(max(entity["offset"], 0), len(text))
        end = min(max(start + entity["length"], start), len(text))
        if mapping[end] > mapping[start]:
            moved.append(
                {**entity, "offset": mapping[start], "length": mapping[end] - mapping[start]}
            )

    result = "".join(cleaned)
    end = len(result)
    while end > 0 and result[end - 1] in " \n":
        end -= 1
    kept = [
        {**entity, "length": min(entity["length"], end - entity["offset"])}
        for entity in sorted(moved, key=_entity_order)
        if entity["offset"] < end
    ]
    first_entity = kept[0]["offset"] if kept else end
    start = 0
    while start < first_entity and start < end and result[start] in " \n":
        start += 1
    shifted = [{**entity, "offset": entity["offset"] - start} for entity in kept]
    return result[start:end], sorted(shifted, key=_entity_order)


def _utf16_prefix(text: str) -> list[int]:
    prefix = [0]
    for char in text:
        prefix.append(prefix[-1] + (2 if ord(char) > 0xFFFF else 1))
    return prefix


def _to_utf16(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prefix = _utf16_prefix(text)
    return [
        {
            **entity,
            "offset": prefix[entity["offset"]],
            "length": prefix[entity["offset"] + entity["length"]] - prefix[entity["offset"]],
        }
        for entity in entities
    ]


def _from_utf16(text: str, entities: list[Any]) -> list[dict[str, Any]]:
    """Explicit entities (UTF-16 offsets, as the Bot API takes them) in code points."""
    prefix = _utf16_prefix(text)
    index_of: dict[int, int] = {}
    for index, units in enumerate(prefix):
        index_of.setdefault(units, index)
        index_of.setdefault(units + 1, index + 1)

    def to_index(units: int) -> int:
        units = min(max(units, 0), prefix[-1])
        return index_of.get(units, len(text))

    converted = []
    for entity in entities:
        if not isinstance(entity, dict) or not isinstance(entity.get("type"), str):
            raise _bad_request("can't parse entities: entity must be an Object with a type")
        try:
            offset, length = int(entity["offset"]), int(entity["length"])
        except (KeyError, TypeError, ValueError):
            raise _bad_request(
                "can't parse entities: entity offset and length must be numbers"
            ) from None
        start, end = to_index(offset), to_index(offset + length)
        converted.append({**entity, "offset": start, "length": end - start})
    return converted


def _bot_command_entities(text: str) -> list[dict[str, Any]]:
    prefix = _utf16_prefix(text)
    return [
        {
            "type": "bot_command",
            "offset": prefix[match.start()],
            "length": prefix[match.end()] - prefix[match.start()],
        }
        for match in _BOT_COMMAND_RE.finditer(text)
    ]


# --- Images -------------------------------------------------------------------------------------

_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, JPEG, GIF, WebP or BMP image; None if it is none of those."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return width & 0x3FFF, height & 0x3FFF
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            height = int.from_bytes(data[27:30], "little") + 1
            return width, height
        return None
    if data.startswith(b"\xff\xd8"):
        index = 2
        while index + 9 < len(data):
            if data[index] != 0xFF:
                index += 1
                continue
            marker = data[index + 1]
            if marker == 0xFF:
                index += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                index += 2
                continue
            if marker in _JPEG_SOF_MARKERS:
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return width, height
            index += 2 + int.from_bytes(data[index + 2 : index + 4], "big")
    return None


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A valid grey PNG of the given size, for tests that send photos (the fake, like Telegram,
    refuses bytes that are not an image)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = (b"\x00" + b"\x80" * width) * height
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def _document_object(stored: StoredFile) -> dict[str, Any]:
    data: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.content),
    }
    if stored.file_name is not None:
        data["file_name"] = stored.file_name
    if stored.mime_type is not None:
        data["mime_type"] = stored.mime_type
    return data


# --- The server ---------------------------------------------------------------------------------


class FakeTelegram:
    """A Bot API server on 127.0.0.1 for one bot token, with the user's side scriptable.

    Start it with ``async with FakeTelegram() as fake:`` (or :meth:`start` / :meth:`stop`), point
    the bot at :attr:`api_url`, then drive the conversation with :meth:`user_sends`,
    :meth:`user_presses` and :meth:`user_sends_document`, and wait for the bot with
    :meth:`wait_for`. All state is plain attributes and lists, read directly in assertions.
    """

    def __init__(self, token: str = "123456:TEST-TOKEN", *, strict_ampersand: bool = False) -> None:
        self.token = token
        self.strict_ampersand = strict_ampersand
        bot_id = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": int(bot_id) if bot_id.isdigit() else 123456,
            "is_bot": True,
            "first_name": "Warmup Test Bot",
            "username": "warmup_test_bot",
        }
        self.calls: list[ApiCall] = []
        self.chats: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.files: dict[str, StoredFile] = {}
        self.callback_queries: dict[str, CallbackQuery] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.pending_updates: list[dict[str, Any]] = []
        self.dropped_updates: list[tuple[dict[str, Any], str]] = []
        self.internal_errors: list[str] = []
        # Telegram's flood limits, when enforced; set it back to None to stop enforcing them.
        self.flood_limits: FloodLimits | None = None
        self._flood = _FloodHistory()
        self._messages: dict[int, dict[int, StoredMessage]] = {}
        self._next_message_id: dict[int, int] = {}
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._failures: dict[str, deque[_Failure]] = {}
        self._stalls: dict[str, deque[float]] = {}
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._changed_event = asyncio.Event()
        self._closing = False
        self._started_at = time.monotonic()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._handlers: dict[str, Callable[[dict[str, Any], dict[str, _Upload]], Any]] = {
            "getme": self._get_me,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "sendphoto": self._send_photo,
            "senddocument": self._send_document,
            "answercallbackquery": self._answer_callback_query,
            "deletemessage": self._delete_message,
            "sendchataction": self._send_chat_action,
            "getfile": self._get_file,
        }

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """Base URL for ``TelegramAPIServer.from_base``, e.g. ``http://127.0.0.1:40123``."""
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=UPLOAD_LIMIT + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port or 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._closing = False
        self._started_at = time.monotonic()

    async def stop(self) -> None:
        """Stops serving; pending long polls return at once with no updates."""
        self._closing = True
        self._changed()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def go_offline(self) -> None:
        """Drop every connection and refuse new ones, keeping all state: a Telegram outage."""
        await self.stop()

    async def go_online(self) -> None:
        """Serve again on the same port, after :meth:`go_offline`."""
        await self.start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- test controls ---------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail as Telegram would, changing nothing.

        A 429 says "Too Many Requests: retry after N" with ``parameters.retry_after`` (N defaults
        to 1); 500 and 502 say "Internal Server Error" and "Bad Gateway". Failures queue up per
        method (case-insensitive, as Telegram matches method names).
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        if error_code == 429:
            retry_after = 1 if retry_after is None else retry_after
            description = description or f"Too Many Requests: retry after {retry_after}"
        elif description is None:
            description = _DEFAULT_DESCRIPTIONS.get(error_code, "Bad Request")
        failure = _Failure(error_code, description, retry_after, times)
        self._failures.setdefault(method.lower(), deque()).append(failure)

    def stall_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` calls of ``method`` for ``seconds`` before handling them.

        A client that gives up meanwhile has closed the connection: such a call is then
        dropped unhandled, as a request lost on the way to Telegram would be.
        """
        self._stalls.setdefault(method.lower(), deque()).extend([seconds] * times)

    def enforce_flood_limits(
        self,
        *,
        private_per_second: float = 1,
        group_per_minute: int = 20,
        overall_per_second: int = 30,
        tolerance: float = 0.1,
    ) -> None:
        """Refuse message calls beyond Telegram's flood limits, as Telegram does, until
        :attr:`flood_limits` is set back to None.

        Every call of :data:`FLOOD_LIMITED_METHODS` counts towards its chat's limit and towards
        the overall one: a private chat (positive id) takes ``private_per_second`` calls a second
        (see :attr:`FloodLimits.private_window` for rates other than whole ones), a group or
        supergroup (negative id) ``group_per_minute`` in any minute, all chats together
        ``overall_per_second`` in any second, each window shortened by ``tolerance``. A call over
        a limit is refused with 429 "Too Many Requests: retry after N", N the whole seconds until
        every window would take it, changes nothing and counts for nothing; only calls answered
        ok count. The calls made before this one count too, as they would on Telegram.
        """
        self.flood_limits = FloodLimits(
            private_per_second=private_per_second,
            group_per_minute=group_per_minute,
            overall_per_second=overall_per_second,
            tolerance=tolerance,
        )

    @property
    def flood_refusals(self) -> int:
        """How many calls the flood limit emulation refused (injected 429s not included)."""
        return sum(1 for call in self.calls if call.flood_limited)

    def max_calls_in_window(
        self,
        seconds: float,
        *,
        chat_id: int | None = None,
        methods: Iterable[str] | None = None,
    ) -> int:
        """The most successful calls of ``methods`` (default :data:`FLOOD_LIMITED_METHODS`;
        names case-insensitive) to ``chat_id`` (None: any chat) that arrived within ``seconds``
        of each other, by their recorded :attr:`ApiCall.time`.

        Windows are half-open, as the enforced limits are: calls exactly ``seconds`` apart are
        in different windows. With the limits enforced at their defaults,
        ``max_calls_in_window(0.9, chat_id=private_chat)`` is at most 1.
        """
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        if isinstance(methods, str):
            methods = [methods]
        keys = _FLOOD_LIMITED_KEYS if methods is None else frozenset(m.lower() for m in methods)
        times = sorted(
            call.time
            for call in self.calls
            if call.ok
            and call.method.lower() in keys
            and (chat_id is None or call.params.get("chat_id") == chat_id)
        )
        most = 0
        first = 0
        for last, arrived in enumerate(times):
            while arrived - times[first] >= seconds:
                first += 1
            most = max(most, last - first + 1)
        return most

    def add_chat(
        self,
        chat_id: int,
        *,
        chat_type: str | None = None,
        title: str | None = None,
        first_name: str = "Tester",
    ) -> dict[str, Any]:
        """Make a chat known, as if a user had written there; returns its ``Chat`` object."""
        if chat_id in self.chats:
            return self.chats[chat_id]
        if chat_type is None:
            if chat_id > 0:
                chat_type = "private"
            else:
                chat_type = "supergroup" if chat_id <= -1_000_000_000_000 else "group"
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = title or f"Test {chat_type} {chat_id}"
        self.chats[chat_id] = chat
        self._messages[chat_id] = {}
        self._changed()
        return chat

    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[StoredMessage]:
        """The chat's messages, both sides, oldest first."""
        stored = self._messages.get(chat_id, {})
        return [m for _, m in sorted(stored.items()) if include_deleted or not m.deleted]

    def message(self, chat_id: int, message_id: int) -> StoredMessage | None:
        """One message as it now stands (deleted ones included, flagged)."""
        return self._messages.get(chat_id, {}).get(message_id)

    def bot_messages(self, chat_id: int) -> list[StoredMessage]:
        return [m for m in self.messages(chat_id) if m.from_bot]

    @property
    def callback_answers(self) -> dict[str, CallbackAnswer | None]:
        """For each query id sent to the bot: its answer, None until answered."""
        return {query_id: query.answer for query_id, query in self.callback_queries.items()}

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """The command menu set for a scope (default scope when None) and language."""
        return list(self.commands.get((self._scope_key(scope), language_code), []))

    # -- the user's side -------------------------------------------------------------------------

    def user_sends(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        first_name: str = "Tester",
        language_code: str = "en",
    ) -> int:
        """The user writes ``text`` in the chat; queues the update and returns the message id."""
        user = self._user(user_id, first_name, language_code)
        chat = self.add_chat(chat_id, first_name=first_name)
        entities = tuple(_bot_command_entities(text))
        message = self._store_message(chat, user, body=_Text(text, entities, text))
        self._enqueue({"message": message.to_api()})
        return message.message_id

    def user_sends_document(
        self,
        chat_id: int,
        user_id: int,
        filename: str,
        content: bytes,
        caption: str | None = None,
        *,
        first_name: str = "Tester",
        language_code: str = "en",
    ) -> int:
        """The user sends a file; the bot can fetch it with getFile and the download route."""
        user = self._user(user_id, first_name, language_code)
        chat = self.add_chat(chat_id, first_name=first_name)
        stored = self._store_file("document", content, filename)
        body = _Text(caption, (), caption) if caption else None
        message = self._store_message(chat, user, body=body, document=stored)
        self._enqueue({"message": message.to_api()})
        return message.message_id

    def user_presses(self, chat_id: int, user_id: int, message_id: int, callback_data: str) -> str:
        """The user presses a button of a bot message, with the given data (any data: forged
        payloads are what a modified client could send). Returns the callback query id."""
        message = self.message(chat_id, message_id)
        if message is None or message.deleted:
            raise AssertionError(f"No message {message_id} in chat {chat_id} to press a button on")
        if not message.from_bot:
            raise AssertionError(f"Message {message_id} is the user's own, it has no buttons")
        user = self._user(user_id, "Tester", "en")
        query_id = str(7_000_000_000_000_000_000 + next(self._query_ids))
        self.callback_queries[query_id] = CallbackQuery(
            query_id, chat_id, user_id, message_id, callback_data
        )
        self._enqueue(
            {
                "callback_query": {
                    "id": query_id,
                    "from": dict(user),
                    "message": message.to_api(),
                    "chat_instance": str(abs(chat_id) * 7919 % 10**18 + 1),
                    "data": callback_data,
                }
            }
        )
        return query_id

    # -- waiting ---------------------------------------------------------------------------------

    async def wait_for(
        self,
        predicate: Callable[[], T | bool | None],
        timeout: float = 10,
        *,
        description: str | None = None,
    ) -> T:
        """Wait until ``predicate()`` returns something truthy, and return it.

        The predicate is re-evaluated after every state change (API call, user action). On
        timeout raises AssertionError with the recent calls and the chats' contents.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            # Taken before evaluating: a change during evaluation sets this very event.
            event = self._changed_event
            result = predicate()
            if result:
                return result  # type: ignore[return-value]
            remaining = deadline - loop.time()
            if remaining <= 0:
                what = description or getattr(predicate, "__name__", "condition")
                raise AssertionError(
                    f"Timed out after {timeout}s waiting for {what}\n{self.dump()}"
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await event.wait()

    def dump(self, last_calls: int = 25) -> str:
        """A readable account of recent calls, pending updates and chats, for failure messages."""
        lines = ["Recent Bot API calls (oldest first):"]
        shown = [
            call
            for call in self.calls
            if not (call.method.lower() == "getupdates" and call.ok and not call.result)
        ][-last_calls:]
        for call in shown:
            outcome = "ok" if call.ok else f"FAILED {call.error_code} {call.description!r}"
            if call.flood_limit is not None:
                outcome += f" (flood limit of {call.flood_limit})"
            lines.append(
                f"  +{call.time - self._started_at:7.3f}s {call.method} {outcome} "
                f"{_short_params(call)}"
            )
        if not shown:
            lines.append("  (none)")
        if self.pending_updates:
            kinds = [_update_type(update) for update in self.pending_updates]
            lines.append(f"Updates not yet fetched by the bot: {kinds}")
        for update, reason in self.dropped_updates[-5:]:
            lines.append(f"Update {update['update_id']} dropped: {reason}")
        for chat_id in self.chats:
            lines.append(f"Chat {chat_id}:")
            for message in self.messages(chat_id)[-12:]:
                who = "bot " if message.from_bot else "user"
                text = (message.text or "").replace("\n", " | ")
                extra = ""
                if message.photo is not None:
                    extra += " [photo]"
                if message.document is not None:
                    extra += f" [document {message.document.file_name}]"
                buttons = _button_texts(message.reply_markup)
                if buttons:
                    extra += f" buttons={buttons}"
                if message.edit_count:
                    extra += f" (edited {message.edit_count}x)"
                lines.append(f"  #{message.message_id} {who}: {text[:160]!r}{extra}")
        unanswered = [q.id for q in self.callback_queries.values() if q.answer is None]
        if unanswered:
            lines.append(f"Unanswered callback queries: {unanswered}")
        for crash in self.internal_errors[-3:]:
            lines.append(f"FakeTelegram crashed while answering a call:\n{crash}")
        return "\n".join(lines)

    def _changed(self) -> None:
        """Wake every waiter. An Event swapped per change, rather than an asyncio.Condition,
        because the user-side methods are synchronous and cannot acquire a Condition's lock."""
        event, self._changed_event = self._changed_event, asyncio.Event()
        event.set()

    # -- HTTP ------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        started = time.monotonic()
        call = ApiCall(method=method, params={}, files={}, time=started)
        try:
            params, uploads = await self._read_request(request)
            call.params = params
            call.files = {name: upload.content for name, upload in uploads.items()}
            if request.match_info["token"] != self.token:
                raise BotApiError(401, "Unauthorized")
            key = method.lower()
            if key != "getupdates" and key not in self._handlers:
                raise BotApiError(404, "Not Found")
            stalls = self._stalls.get(key)
            if stalls:
                await asyncio.sleep(stalls.popleft())
                call.time = time.monotonic()  # when a held request reaches Telegram
                if request.transport is None or request.transport.is_closing():
                    call.description = "dropped: the client gave up while the call was held"
                    self._record(call)
                    return web.Response(status=504)
            self._raise_injected_failure(key)
            if key == "getupdates":
                result = await self._get_updates(params, request)
            else:
                # No await from the check to the count: concurrent calls cannot both slip in.
                self._check_flood_limits(call, key)
                result = self._handlers[key](params, uploads)
                self._count_for_flood_limits(call, key)
        except BotApiError as error:
            return self._refuse(call, error)
        except Exception as crash:
            # A bug of the fake's own: answered as a JSON 500 the bot can parse, and kept for
            # the failure report rather than lost in aiohttp's log.
            self.internal_errors.append(traceback.format_exc())
            description = f"Internal Server Error: FakeTelegram crashed: {crash!r}"
            return self._refuse(call, BotApiError(500, description))
        call.ok, call.result = True, result
        self._record(call)
        return web.json_response({"ok": True, "result": result})

    def _refuse(self, call: ApiCall, error: BotApiError) -> web.Response:
        call.error_code, call.description = error.error_code, error.description
        self._record(call)
        body: dict[str, Any] = {
            "ok": False,
            "error_code": error.error_code,
            "description": error.description,
        }
        if error.retry_after is not None:
            body["parameters"] = {"retry_after": error.retry_after}
        return web.json_response(body, status=error.error_code)

    def _record(self, call: ApiCall) -> None:
        self.calls.append(call)
        self._changed()

    async def _handle_download(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        stored = next((f for f in self.files.values() if f.file_path == path), None)
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(
            body=stored.content, content_type=stored.mime_type or "application/octet-stream"
        )

    async def _read_request(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, _Upload]]:
        """Query string plus a JSON, urlencoded or multipart body, normalised; uploads keyed by
        the parameter naming them (``photo=attach://<part>``) or by their own part name."""
        raw: dict[str, Any] = dict(request.query)
        parts: dict[str, _Upload] = {}
        if request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise _bad_request("can't parse JSON object") from None
                if not isinstance(body, dict):
                    raise _bad_request("JSON object expected")
                raw.update(body)
            else:
                form = await request.post()
                for name, value in form.items():
                    if isinstance(value, web.FileField):
                        parts[name] = _Upload(value.filename, value.file.read())
                    else:
                        raw[name] = value
        params = {name: _normalise(name, value) for name, value in raw.items()}
        uploads: dict[str, _Upload] = {}
        for name, value in params.items():
            if isinstance(value, str) and value.startswith("attach://"):
                part = parts.pop(value[len("attach://") :], None)
                if part is not None:
                    uploads[name] = part
        uploads.update(parts)
        return params, uploads

    def _raise_injected_failure(self, method_key: str) -> None:
        queue = self._failures.get(method_key)
        if not queue:
            return
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.popleft()
        raise BotApiError(failure.error_code, failure.description, failure.retry_after)

    def _check_flood_limits(self, call: ApiCall, method_key: str) -> None:
        """Refuse the call with 429 if counting it would break a limit of :attr:`flood_limits`;
        ``retry_after`` then covers the limit that needs the longest wait."""
        limits = self.flood_limits
        if limits is None or method_key not in _FLOOD_LIMITED_KEYS:
            return
        checks: list[tuple[str, list[float], tuple[int, float]]] = []
        chat_id = _flood_chat_id(call.params)
        if chat_id is not None:
            history = self._flood.by_chat.get(chat_id, [])
            if chat_id > 0:
                checks.append((f"private chat {chat_id}", history, limits.private_window))
            else:
                checks.append((f"group {chat_id}", history, limits.group_window))
        checks.append(("all chats", self._flood.overall, limits.overall_window))
        wait, broken = 0.0, ""
        for scope, history, (calls, seconds) in checks:
            needed = _flood_wait(history, call.time, calls, seconds)
            if needed > wait:
                plural = "call" if calls == 1 else "calls"
                wait, broken = needed, f"{scope}: at most {calls} {plural} per {seconds:g}s"
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            call.flood_limit = broken
            raise BotApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)

    def _count_for_flood_limits(self, call: ApiCall, method_key: str) -> None:
        """Count a call answered ok, and forget the calls no window reaches any more."""
        if method_key not in _FLOOD_LIMITED_KEYS:
            return
        horizon = _FLOOD_HISTORY
        if self.flood_limits is not None:  # a slow private rate has a window longer than a group's
            horizon += self.flood_limits.private_window[1]
        histories = [self._flood.overall]
        chat_id = _flood_chat_id(call.params)
        if chat_id is not None:
            histories.append(self._flood.by_chat.setdefault(chat_id, []))
        for history in histories:
            bisect.insort(history, call.time)
            del history[: bisect.bisect_left(history, call.time - horizon)]

    # -- updates ---------------------------------------------------------------------------------

    def _enqueue(self, payload: dict[str, Any]) -> None:
        update = {"update_id": next(self._update_ids), **payload}
        self.pending_updates.append(update)
        self._changed()

    def _deliverable(self) -> list[dict[str, Any]]:
        """Pending updates the bot asked for; the others are dropped, as Telegram drops them."""
        kept = []
        for update in self.pending_updates:
            kind = _update_type(update)
            allowed = (
                kind in self._allowed_updates
                if self._allowed_updates is not None
                else kind not in _DEFAULT_UPDATE_EXCLUSIONS
            )
            if allowed:
                kept.append(update)
            else:
                wanted = sorted(self._allowed_updates or [])
                reason = f"type {kind!r} is not in allowed_updates {wanted}"
                self.dropped_updates.append((update, reason))
        self.pending_updates = kept
        return kept

    async def _get_updates(
        self, params: dict[str, Any], request: web.Request
    ) -> list[dict[str, Any]]:
        offset = _optional_int(params, "offset") or 0
        limit = min(max(_optional_int(params, "limit") or 100, 1), 100)
        timeout = max(_optional_int(params, "timeout") or 0, 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(str(kind) for kind in allowed) or None
        if offset > 0:
            self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        elif offset < 0:
            self.pending_updates = self.pending_updates[offset:]

        # A newer getUpdates terminates an older one still waiting, as on Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        self._changed()  # wakes an older poll, which then ends with 409
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if _client_gone(request):
                # A poller that was cancelled (a stopped Dispatcher): nobody reads this answer,
                # so it neither takes updates nor conflicts with the next poller.
                return []
            updates = self._deliverable()[:limit]
            if updates or self._closing:
                return updates
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            event = self._changed_event
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await event.wait()
            if generation != self._poll_generation and not _client_gone(request):
                raise BotApiError(409, POLL_CONFLICT)

    # -- methods ---------------------------------------------------------------------------------

    def _get_me(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _delete_webhook(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        if params.get("drop_pending_updates") is True:
            self.pending_updates.clear()
        return True

    def _get_webhook_info(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    def _set_my_commands(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        commands = params.get("commands")
        if commands is None:
            raise _bad_request('parameter "commands" is required')
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        cleaned = []
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand: expected an Object")
            name, description = command.get("command"), command.get("description")
            if not isinstance(name, str) or not _COMMAND_NAME_RE.fullmatch(name):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self.commands[key] = cleaned
        return True

    def _get_my_commands(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        return [dict(command) for command in self.commands.get(key, [])]

    def _delete_my_commands(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self.commands.pop(key, None)
        return True

    def _send_message(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        chat = self._chat_of(params)
        body = self._format(params, "text", "entities", caption=False, edit=False)
        markup = self._inline_markup(params)
        reply_to = self._reply_target(chat, params)
        message = self._store_message(
            chat, self.bot_user, body=body, reply_markup=markup, reply_to=reply_to
        )
        return message.to_api()

    def _send_photo(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        chat = self._chat_of(params)
        body = self._format(params, "caption", "caption_entities", caption=True, edit=False)
        markup = self._inline_markup(params)
        reply_to = self._reply_target(chat, params)
        stored = self._file_for("photo", params, uploads)
        message = self._store_message(
            chat,
            self.bot_user,
            body=body,
            photo=stored,
            reply_markup=markup,
            reply_to=reply_to,
        )
        return message.to_api()

    def _send_document(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        chat = self._chat_of(params)
        body = self._format(params, "caption", "caption_entities", caption=True, edit=False)
        markup = self._inline_markup(params)
        reply_to = self._reply_target(chat, params)
        stored = self._file_for("document", params, uploads)
        message = self._store_message(
            chat,
            self.bot_user,
            body=body,
            document=stored,
            reply_markup=markup,
            reply_to=reply_to,
        )
        return message.to_api()

    def _edit_message_text(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        message = self._message_to_edit(params)
        if message.has_media:
            raise _bad_request("there is no text in the message to edit")
        body = self._format(params, "text", "entities", caption=False, edit=True)
        assert body is not None  # a text is required, _format refuses none
        markup = self._inline_markup(params)
        if body.same_content(message.body) and markup == message.reply_markup:
            raise BotApiError(400, NOT_MODIFIED)
        return self._apply_edit(message, body, markup)

    def _edit_message_caption(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        message = self._message_to_edit(params)
        if not message.has_media:
            raise _bad_request("there is no caption in the message to edit")
        body = self._format(params, "caption", "caption_entities", caption=True, edit=True)
        markup = self._inline_markup(params)
        same_body = body.same_content(message.body) if body is not None else message.body is None
        if same_body and markup == message.reply_markup:
            raise BotApiError(400, NOT_MODIFIED)
        return self._apply_edit(message, body, markup)

    def _edit_message_reply_markup(
        self, params: dict[str, Any], uploads: dict[str, _Upload]
    ) -> Any:
        message = self._message_to_edit(params)
        markup = self._inline_markup(params)
        if markup == message.reply_markup:
            raise BotApiError(400, NOT_MODIFIED)
        return self._apply_edit(message, message.body, markup)

    def _apply_edit(
        self, message: StoredMessage, body: _Text | None, markup: dict[str, Any] | None
    ) -> Any:
        """As on Telegram, an edit that leaves out reply_markup removes the keyboard."""
        old_text = message.text
        new_text = body.plain if body is not None else None
        if new_text != old_text:
            message.history.append(old_text or "")
        message.body = body
        message.reply_markup = markup
        message.edit_count += 1
        message.edit_date = int(time.time())
        return message.to_api()

    def _answer_callback_query(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        query_id = params.get("callback_query_id")
        query = self.callback_queries.get(str(query_id)) if query_id is not None else None
        if query is None or query.answer is not None:
            raise BotApiError(400, QUERY_TOO_OLD)
        text = params.get("text")
        if text is not None and len(str(text)) > ANSWER_TEXT_LIMIT:
            raise _bad_request("MESSAGE_TOO_LONG")
        query.answer = CallbackAnswer(
            text=None if text is None else str(text),
            show_alert=params.get("show_alert") is True,
            url=params.get("url"),
            cache_time=_optional_int(params, "cache_time"),
        )
        return True

    def _delete_message(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        chat = self._chat_of(params)
        message_id = _message_id_of(params)
        message = self.message(int(chat["id"]), message_id)
        if message is None or message.deleted:
            raise _bad_request("message to delete not found")
        message.deleted = True
        return True

    def _send_chat_action(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        self._chat_of(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    def _get_file(self, params: dict[str, Any], uploads: dict[str, _Upload]) -> Any:
        file_id = str(params.get("file_id") or "")
        stored = self.files.get(file_id)
        if stored is None:
            raise _bad_request("invalid file_id")
        if len(stored.content) > DOWNLOAD_LIMIT:
            raise _bad_request("file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    # -- helpers ---------------------------------------------------------------------------------

    def _user(self, user_id: int, first_name: str, language_code: str) -> dict[str, Any]:
        user = self.users.get(user_id)
        if user is None:
            user = {"id": user_id, "is_bot": False, "first_name": first_name}
            if language_code:
                user["language_code"] = language_code
            self.users[user_id] = user
        return user

    def _chat_of(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        if isinstance(chat_id, int) and chat_id in self.chats:
            return self.chats[chat_id]
        raise _bad_request("chat not found")

    def _message_to_edit(self, params: dict[str, Any]) -> StoredMessage:
        if params.get("inline_message_id") is not None:
            raise _bad_request("MESSAGE_ID_INVALID")
        chat = self._chat_of(params)
        message = self.message(int(chat["id"]), _message_id_of(params))
        if message is None or message.deleted:
            raise _bad_request("message to edit not found")
        if not message.from_bot:
            raise _bad_request("message can't be edited")
        return message

    def _reply_target(self, chat: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        target_id: Any = None
        allow_missing = params.get("allow_sending_without_reply") is True
        if isinstance(reply, dict):
            target_id = reply.get("message_id")
            allow_missing = allow_missing or reply.get("allow_sending_without_reply") is True
        elif params.get("reply_to_message_id") is not None:
            target_id = params["reply_to_message_id"]
        if target_id is None:
            return None
        target = self.message(int(chat["id"]), int(target_id))
        if target is None or target.deleted:
            if allow_missing:
                return None
            raise _bad_request("message to be replied not found")
        data = target.to_api()
        data.pop("reply_to_message", None)
        return data

    def _format(
        self,
        params: dict[str, Any],
        name: str,
        entities_name: str,
        *,
        caption: bool,
        edit: bool,
    ) -> _Text | None:
        """The text or caption as Telegram keeps it, or None for no caption; refused as Telegram
        refuses it."""
        raw = params.get(name)
        parse_mode = str(params.get("parse_mode") or "").lower()
        if parse_mode not in {"", "none", "html", "markdown", "markdownv2"}:
            raise _bad_request("unsupported parse_mode")
        if raw is None or raw == "":
            if caption:
                return None
            raise _bad_request("message text is empty")
        raw = str(raw)
        explicit = params.get(entities_name)
        if isinstance(explicit, list) and explicit:
            plain, entities = raw, _from_utf16(raw, explicit)
        elif parse_mode == "html":
            try:
                plain, entities = parse_html(raw, strict_ampersand=self.strict_ampersand)
            except HtmlParseError as error:
                raise _bad_request(f"can't parse entities: {error}") from None
        else:
            # Markdown modes are not emulated: the text is kept as sent.
            plain, entities = raw, []
        plain, entities = _clean_and_trim(plain, entities)
        if not plain:
            if caption:
                return None
            raise _bad_request("text must be non-empty")
        if caption and len(plain) > CAPTION_LIMIT:
            raise _bad_request("MEDIA_CAPTION_TOO_LONG" if edit else "message caption is too long")
        if not caption and len(plain) > TEXT_LIMIT:
            raise _bad_request("MESSAGE_TOO_LONG" if edit else "message is too long")
        return _Text(plain, tuple(_to_utf16(plain, entities)), raw)

    def _inline_markup(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The inline keyboard to attach, validated; None for none. Other reply markups (reply
        keyboards, ForceReply) live on the user's side and are not part of the message."""
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request(
                'can\'t parse inline keyboard button: Field "inline_keyboard" of the '
                "InlineKeyboardMarkup must be an Array of Arrays"
            )
        kept_rows = []
        for row in rows:
            kept = []
            for button in row:
                if not isinstance(button, dict):
                    raise _bad_request(
                        "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                    )
                if "text" not in button:
                    raise _bad_request(
                        "can't parse inline keyboard button: Can't find field \"text\""
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    size = len(str(data).encode("utf-8"))
                    if not isinstance(data, str) or not 1 <= size <= CALLBACK_DATA_LIMIT:
                        raise _bad_request("BUTTON_DATA_INVALID")
                if set(button) == {"text"}:
                    raise _bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the "
                        "inline keyboard"
                    )
                kept.append(dict(button))
            if kept:
                kept_rows.append(kept)
        if not kept_rows:
            return None
        return {"inline_keyboard": kept_rows}

    def _file_for(
        self, kind: str, params: dict[str, Any], uploads: dict[str, _Upload]
    ) -> StoredFile:
        """An upload, or a file Telegram already holds by its file_id."""
        upload = uploads.get(kind)
        if upload is not None:
            if len(upload.content) > UPLOAD_LIMIT:
                raise BotApiError(413, "Request Entity Too Large")
            if kind == "photo":
                return self._store_photo(upload.content)
            if not upload.content:
                raise _bad_request("file must be non-empty")
            return self._store_file("document", upload.content, upload.filename)
        value = params.get(kind)
        if value is None or value == "":
            raise _bad_request(f"there is no {kind} in the request")
        value = str(value)
        if value.startswith(("http://", "https://")):
            raise _bad_request(
                "wrong file identifier/HTTP URL specified (FakeTelegram never fetches URLs)"
            )
        known = self.files.get(value)
        if known is None or value.startswith("attach://"):
            raise _bad_request("wrong file identifier/HTTP URL specified")
        if known.kind != kind:
            raise _bad_request("type of file mismatch")
        return known

    def _store_photo(self, content: bytes) -> StoredFile:
        size = _image_size(content) if content else None
        if size is None or min(size) <= 0:
            raise _bad_request("IMAGE_PROCESS_FAILED")
        width, height = size
        if width + height > 10000 or max(width, height) > 20 * min(width, height):
            raise _bad_request("PHOTO_INVALID_DIMENSIONS")
        if len(content) > PHOTO_SIZE_LIMIT:
            raise _bad_request("PHOTO_SAVE_FILE_INVALID")
        return self._store_file("photo", content, None, width=width, height=height)

    def _store_file(
        self,
        kind: str,
        content: bytes,
        file_name: str | None,
        *,
        width: int | None = None,
        height: int | None = None,
    ) -> StoredFile:
        number = next(self._file_ids)
        if kind == "photo":
            path = f"photos/file_{number}.jpg"
            mime_type = None
        else:
            suffix = ""
            if file_name and "." in file_name:
                suffix = "." + file_name.rsplit(".", 1)[1]
            path = f"documents/file_{number}{suffix}"
            mime_type = None
            if file_name:
                mime_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = StoredFile(
            file_id=f"{'AgAC' if kind == 'photo' else 'BQAC'}FakeFile{number:06d}",
            file_unique_id=f"AQAD{number:06d}",
            kind=kind,
            content=content,
            file_path=path,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
        )
        self.files[stored.file_id] = stored
        return stored

    def _photo_sizes(self, stored: StoredFile) -> list[dict[str, Any]]:
        """PhotoSizes as Telegram makes them (90, 320, 800, 1280, 2560 px on the long side);
        every size serves the original bytes."""
        width, height = stored.width or 1, stored.height or 1
        sizes = []
        for index, limit in enumerate((90, 320, 800, 1280, 2560)):
            scale = min(1.0, limit / max(width, height))
            size: dict[str, Any] = {
                "file_id": f"{stored.file_id}_{index}",
                "file_unique_id": f"{stored.file_unique_id}_{index}",
                "width": max(1, round(width * scale)),
                "height": max(1, round(height * scale)),
            }
            sizes.append(size)
            self.files.setdefault(size["file_id"], stored)
            if scale == 1.0:
                break
        sizes[-1]["file_size"] = len(stored.content)
        return sizes

    def _store_message(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        *,
        body: _Text | None,
        photo: StoredFile | None = None,
        document: StoredFile | None = None,
        reply_markup: dict[str, Any] | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> StoredMessage:
        chat_id = int(chat["id"])
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        message = StoredMessage(
            chat=chat,
            message_id=message_id,
            sender=sender,
            date=int(time.time()),
            body=body,
            photo=photo,
            photo_sizes=self._photo_sizes(photo) if photo is not None else None,
            document=document,
            reply_markup=reply_markup,
            reply_to=reply_to,
        )
        self._messages.setdefault(chat_id, {})[message_id] = message
        self._changed()
        return message

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not scope:
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True) if isinstance(scope, dict) else str(scope)


# --- small functions ----------------------------------------------------------------------------


def _normalise(name: str, value: Any) -> Any:
    """Form values are strings: decode the JSON-encoded fields, ids and booleans."""
    if not isinstance(value, str):
        return value
    if name in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in _INT_FIELDS and _INT_RE.fullmatch(value):
        return int(value)
    if name in _BOOL_FIELDS and value.lower() in {"true", "false", "1", "0"}:
        return value.lower() in {"true", "1"}
    return value


def _optional_int(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_request(f"invalid {name} specified")
    return value


def _message_id_of(params: dict[str, Any]) -> int:
    value = params.get("message_id")
    if value is None or value == "":
        raise _bad_request("message identifier is not specified")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_request("message identifier is not specified")
    return value


def _flood_chat_id(params: dict[str, Any]) -> int | None:
    """The chat a message call counts against; None without a numeric chat_id."""
    value = params.get("chat_id")
    if isinstance(value, bool) or not isinstance(value, int) or value == 0:
        return None
    return value


def _flood_wait(history: list[float], at: float, calls: int, seconds: float) -> float:
    """How much later than ``at`` a call must arrive for it and the counted ``history`` (sorted
    arrival times) to keep at most ``calls`` in any window of ``seconds``; 0 if ``at`` does.

    Calls are counted in the order they are answered, which is not quite their order of
    arrival (a body takes a while to read), so the call is placed among the history rather
    than after it, and every window around it is checked.
    """
    position = bisect.bisect_right(history, at)
    around = [
        *history[max(0, position - calls) : position],
        at,
        *history[position : position + calls],
    ]
    if all(around[i + calls] - around[i] >= seconds for i in range(len(around) - calls)):
        return 0.0
    # Calls are retried later than all the others: the window then starts at the calls-th
    # latest counted one. That is later than ``at - seconds``, since a window is broken.
    return history[-calls] + seconds - at


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _update_type(update: dict[str, Any]) -> str:
    return next(key for key in update if key != "update_id")


def _button_texts(markup: dict[str, Any] | None) -> list[str]:
    if not markup:
        return []
    return [
        str(button.get("text", "")) for row in markup.get("inline_keyboard", []) for button in row
    ]


def _short_params(call: ApiCall) -> str:
    shown = []
    for name, value in call.params.items():
        if name in {"parse_mode"}:
            continue
        text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
        if len(text) > 90:
            text = text[:87] + "..."
        shown.append(f"{name}={text}")
    for name, content in call.files.items():
        shown.append(f"{name}=<{len(content)} bytes>")
    return " ".join(shown)
