"""Bulk import of members and transactions from CSV files into the loyalty platform.

``loyalty-bot import members|transactions FILE.csv``: the file is streamed, each row validated,
good rows sent in chunks under the platform's limits with bounded concurrency, every row's
outcome written to a report, and progress kept in SQLite so an interrupted import continues
where it stopped.
"""
