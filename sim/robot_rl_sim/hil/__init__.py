"""Human-in-the-loop residual learning in MuJoCo, with a simulated human (a scripted stand-in for the person)."""
