"""What travels between coordinator and workers: frames (`frames`), asyncio streams
(`streams`), authentication (`auth`). The only code that touches the bytes of the wire."""
