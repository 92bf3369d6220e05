"""The configuration doctor: ``startjobs check``."""
