"""Plots for reports and leaderboards (matplotlib, Agg backend, PNG)."""
