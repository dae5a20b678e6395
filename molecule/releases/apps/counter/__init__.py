"""Counter: a second, different WSGI app of the test suite, deployed beside the bundled notes.

It lives outside app/, as a user's own app would, and has what the stack asks of any app: a
package, a hash-locked requirements.lock beside it, a WSGI callable (counter.wsgi:app) and a
health URL that answers 200 with the release it runs ({"release": COUNTER_RELEASE}).
"""

__version__ = "0.1.0"
