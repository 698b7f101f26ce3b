"""The CJ domain's REST API (`/api/v1/assignments`, `/api/v1/batches`): thin DRF views over services and selectors."""
