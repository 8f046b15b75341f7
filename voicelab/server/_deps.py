"""What the routers depend on: the server's state, and the API key on guarded routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from voicelab.server.access import BearerCredentials, Client
from voicelab.server.state import ServerState

__all__ = ["RequireApiKey", "State", "get_state"]


async def get_state(connection: HTTPConnection) -> ServerState:
    """The app's :class:`ServerState` (``create_app`` puts it on ``app.state``).

    An ``HTTPConnection``, so that HTTP routes and the media websocket share it; ``async``,
    because FastAPI runs a plain ``def`` dependency in its threadpool.
    """
    state: ServerState = connection.app.state.voicelab
    return state


State = Annotated[ServerState, Depends(get_state)]


class RequireApiKey:
    """A route's dependency: the request's :class:`Client`, or 401 (see :mod:`.access`).

    Args:
        what: Names the guarded thing in the no-key message (``/outbound``...).
    """

    def __init__(self, what: str) -> None:
        self.what = what

    async def __call__(
        self, request: Request, credentials: BearerCredentials, state: State
    ) -> Client:
        return state.api_key.client(request, credentials, self.what)
