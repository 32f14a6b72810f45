"""The tutorial's ChatConsumer: one AsyncWebsocketConsumer per socket, group_send per message."""

from __future__ import annotations

import json

from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        """Called on the handshake: join the room's group, accept."""
        self.room_group_name = "chat_" + self.scope["url_route"]["kwargs"]["room_name"]
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code: int) -> None:
        """Called when the socket closes: leave the group."""
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Called for each client frame: send the message to everyone in the room."""
        message = json.loads(text_data or "{}")["message"]
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    async def chat_message(self, event: dict) -> None:
        """Called for each group message: write it to this socket."""
        await self.send(text_data=json.dumps({"message": event["message"]}))
