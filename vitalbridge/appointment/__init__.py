"""The appointment domain: booking without double-booking, and the visit lifecycle."""
