"""Event feed: integrators receive the events they are entitled to, resumably."""
