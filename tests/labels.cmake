# Read by ctest after the tests discovered by catch_discover_tests (tests/CMakeLists.txt):
# gives the tests whose Catch2 tags make two ctest labels both of them.
if(engram_science_TESTS)
  set_tests_properties(${engram_science_TESTS} PROPERTIES LABELS "science;slow")
endif()
if(engram_viz_unit_TESTS)
  set_tests_properties(${engram_viz_unit_TESTS} PROPERTIES LABELS "viz;unit")
endif()
if(engram_viz_display_TESTS)
  set_tests_properties(${engram_viz_display_TESTS} PROPERTIES LABELS "viz;display")
endif()
