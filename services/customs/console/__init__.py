"""The brokers' console: a web page, served by the customs API process under /console/, where customs brokers work
their queue (routes.py). It reads and acts through the same use cases as the API (brokers.py, queue.py); the
registry in actions.py maps each action a declaration allows to its form and service function."""
