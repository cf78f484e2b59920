"""Evaluation of prompts and models against golden datasets."""
