"""Grading tools: gradient checks now; assignment tooling and the sandboxed grader later."""
from .gradcheck import (ArgumentReport, GradcheckError, GradcheckReport, diagnose, gradcheck,
                        numerical_gradient)
from .graded import graded

__all__ = ["gradcheck", "numerical_gradient", "GradcheckError", "GradcheckReport",
           "ArgumentReport", "diagnose", "graded"]
