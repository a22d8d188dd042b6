// Unit tests of deploy/: quoting, templates, settings.

#include <catch2/catch.hpp>
