"""Search strategies (ask/tell, resumable) and the loop that drives them."""
from tfnas.search.strategy import Strategy, Trial  # noqa: F401
