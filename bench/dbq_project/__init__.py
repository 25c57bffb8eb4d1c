"""The throwaway Django project that runs django_dbq (this working tree) under the benchmark."""
