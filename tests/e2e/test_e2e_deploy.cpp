// Deployment manifests, end to end.

#include <catch2/catch.hpp>
