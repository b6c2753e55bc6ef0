"""Merchant webhooks: signed, retried, replayable notifications of order status changes (issue 7).

Endpoints and deliveries live in the orders database on their own tables; a delivery row is written in the same
transaction as the status change, and a sender worker (delivery.py) posts it, apart from the order pipeline.
"""
