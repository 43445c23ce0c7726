"""Who the local stand-in is when ``run`` starts it (no ``BOT_TOKEN``): its token and its bot's
username. Plain constants, so commands can name them without importing the stand-in or the app.
"""

RUN_TOKEN = "123456:local-standin-token"
"""The token ``run`` gives the stand-in it serves (and ``broadcast`` uses to reach it)."""
BOT_USERNAME = "great_widgets_bot"
"""The stand-in's bot username: ``t.me/great_widgets_bot?start=…`` links."""
