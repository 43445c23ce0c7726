"""The browser chat page and its small JSON API under ``/chat/api/``.

The page picks a demo user, shows that user's chat with the bot and acts through the same
``TelegramStandIn`` driver the tests use; new bot activity reaches it by long polling
``/chat/api/chats/<user>/events``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from aiohttp import web

from bot.devtools.telegram_standin.state import TelegramStandIn

_STATIC_FILES = {
    "chat.js": "text/javascript",
    "chat.css": "text/css",
}
_MAX_EVENT_WAIT_SECONDS = 25.0


def _static(name: str) -> bytes:
    return resources.files("bot.devtools.telegram_standin").joinpath("static", name).read_bytes()


def _user_view(standin: TelegramStandIn, user_id: int) -> dict[str, Any]:
    user = standin.user(user_id)
    return {
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "username": user.username,
        "language_code": user.language_code,
        "phone": user.phone,
    }


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def install_chat_page(app: web.Application, standin: TelegramStandIn) -> None:
    def user_id_of(request: web.Request) -> int:
        try:
            user_id = int(request.match_info["user_id"])
            standin.user(user_id)
        except ValueError:
            raise web.HTTPNotFound(text="no such demo user") from None
        return user_id

    async def json_body(request: web.Request) -> dict[str, Any]:
        # A JSON content type makes cross-site form posts to this local page impossible.
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="send application/json")
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="the body is not JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="the body must be a JSON object")
        return body

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=_static("chat.html"), content_type="text/html", charset="utf-8")

    async def page_with_slash(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.path.rstrip("/"))

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC_FILES:
            raise web.HTTPNotFound()
        return web.Response(body=_static(name), content_type=_STATIC_FILES[name], charset="utf-8")

    async def photo_file(request: web.Request) -> web.Response:
        photo = standin.photos.get(request.match_info["file_id"])
        if photo is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=photo.content,
            content_type=photo.mime_type,
            headers={"Cache-Control": "private, max-age=3600"},
        )

    async def users(request: web.Request) -> web.Response:
        bot = standin.bot_user
        return web.json_response(
            {
                "bot": {"id": bot.id, "first_name": bot.first_name, "username": bot.username},
                "users": [_user_view(standin, user_id) for user_id in standin.users],
            }
        )

    async def chat(request: web.Request) -> web.Response:
        user_id = user_id_of(request)
        return web.json_response(
            {
                "user": _user_view(standin, user_id),
                "messages": [m.page_view() for m in standin.transcript(user_id)],
                "reply_keyboard": standin.reply_keyboard(user_id),
                "keyboard_collapsed": standin.keyboard_collapsed(user_id),
                "commands": standin.commands_for(user_id),
                "last_event": standin.last_event_seq,
            }
        )

    async def events(request: web.Request) -> web.Response:
        user_id = user_id_of(request)
        try:
            after = int(request.query.get("after", "0"))
            timeout = min(float(request.query.get("timeout", "20")), _MAX_EVENT_WAIT_SECONDS)
        except ValueError:
            return _json_error(400, "after and timeout must be numbers")
        found = await standin.wait_for_events(user_id, after, max(timeout, 0.0))
        return web.json_response(
            {"events": found, "last_event": found[-1]["seq"] if found else after}
        )

    async def send_message(request: web.Request) -> web.Response:
        user_id = user_id_of(request)
        body = await json_body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return _json_error(400, "type a message first")
        message = await standin.send_text(user_id, text)
        return web.json_response({"message": message.page_view()})

    async def share_contact(request: web.Request) -> web.Response:
        user_id = user_id_of(request)
        body = await json_body(request)
        message = await standin.share_contact(user_id, own=bool(body.get("own", True)))
        return web.json_response({"message": message.page_view()})

    async def press_reply_button(request: web.Request) -> web.Response:
        user_id = user_id_of(request)
        body = await json_body(request)
        try:
            message = await standin.press_reply_button(user_id, str(body.get("text", "")))
        except ValueError as error:
            return _json_error(400, str(error))
        return web.json_response({"message": message.page_view()})

    async def press_inline_button(request: web.Request) -> web.Response:
        user_id = user_id_of(request)
        body = await json_body(request)
        try:
            query_id = await standin.press_inline_button(
                user_id, int(body.get("message_id", 0)), str(body.get("callback_data", ""))
            )
        except ValueError as error:
            return _json_error(400, str(error))
        return web.json_response({"callback_query_id": query_id})

    app.router.add_get("/chat", page)
    app.router.add_get("/chat/", page_with_slash)
    app.router.add_get("/chat/static/{name}", static)
    app.router.add_get("/chat/files/{file_id}", photo_file)
    app.router.add_get("/chat/api/users", users)
    app.router.add_get("/chat/api/chats/{user_id}", chat)
    app.router.add_get("/chat/api/chats/{user_id}/events", events)
    app.router.add_post("/chat/api/chats/{user_id}/messages", send_message)
    app.router.add_post("/chat/api/chats/{user_id}/contact", share_contact)
    app.router.add_post("/chat/api/chats/{user_id}/reply-button", press_reply_button)
    app.router.add_post("/chat/api/chats/{user_id}/inline-button", press_inline_button)
