"""Text data for the RNN searches: a PTB-format reader and a real English corpus that ships with Python."""
