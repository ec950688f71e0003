"""One servicer per v2beta1 service. Each only translates messages to service calls and
results back; behaviour and errors belong to the service layer."""
