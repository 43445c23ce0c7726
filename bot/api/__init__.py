"""The POS API: ``/api/v1/purchases`` and ``/api/v1/redemptions`` for tills and shops."""
