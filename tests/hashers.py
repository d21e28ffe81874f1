"""The tests' password hasher (tests/settings.py): production's PBKDF2-SHA256 at Django's
iteration count, with each (password, salt, iterations) computed once per test process.

Production strength is a second or more of CPU per hash on this 2-core machine, and the
suite hashes on every create_user, every log-in and every wrong password: hundreds of
seconds a pass. A cheaper hash (fewer iterations, MD5) would not do: the daphne processes
the tests start run chatsite.settings, which must check these passwords as stored, and
would re-hash a weaker one at its first log-in (a new password hash, which ends the
user's other sessions). So the hashes stay byte-for-byte production's, with one fixed
salt (entropy enough that nothing asks to re-hash it): the same password gives the same
hash in one test process, and a known one is not computed again."""

from functools import lru_cache

from django.contrib.auth.hashers import PBKDF2PasswordHasher

# 24 characters of the 62-letter alphabet: 143 bits, above salt_entropy (128), so that
# must_update() is False here and in the servers (no re-hash, no changed session hash).
FIXED_SALT = "suiteSaltNotForProdUse24"


@lru_cache(maxsize=256)
def _encoded(password: str, salt: str, iterations: int) -> str:
    encoded: str = PBKDF2PasswordHasher().encode(password, salt, iterations)
    return encoded


class CachedPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    def salt(self) -> str:
        return FIXED_SALT

    def encode(self, password: str, salt: str, iterations: int | None = None) -> str:
        # The real encode checks its arguments on the first call; a cached one passed.
        return _encoded(password, salt, iterations or self.iterations)
