"""Packet captures: read with dpkt into a conversation model, and drawn as a ladder diagram."""
