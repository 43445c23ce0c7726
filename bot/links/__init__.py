"""Marketing signup links: the ``loyalty-bot links`` command and print-ready posters."""
