# Offline replacement for the CPM.cmake of Arbor's source distribution.
#
# Arbor's own cmake/CPM.cmake downloads the CPM package manager, which then
# downloads every dependency that find_package() does not find. This file
# (written for arbor_pycat's MPI build, scripts/build_arbor_mpi.py) provides
# the one command Arbor's CMakeLists.txt uses, CPMFindPackage, and never
# downloads anything:
#
#   - if CPM_<NAME>_SOURCE names a folder, that folder is the package's
#     source: with DOWNLOAD_ONLY (or no CMakeLists.txt in it) only
#     <NAME>_SOURCE_DIR is set; otherwise it is added with add_subdirectory,
#     with the package's OPTIONS ("KEY VALUE") set as variables for it alone;
#     <NAME>_ADDED is then TRUE;
#   - otherwise find_package(<CPM_<NAME>_PACKAGE, default NAME>) must find an
#     installed package (the version asked for is not enforced: the build
#     script chooses the versions; a find module that only sets the
#     upper-case <PACKAGE>_FOUND counts too); <NAME>_ADDED is FALSE;
#   - otherwise configuration stops with an error naming the package.

function(_pycat_cpm_add_subdirectory name source_dir exclude system)
    # OPTIONS are "KEY VALUE" strings; as normal variables of this function
    # they shadow cache entries for the added project only (CMP0077).
    foreach(option IN LISTS ARGN)
        string(REGEX MATCH "^([^ ]+) (.*)$" _match "${option}")
        if(NOT _match)
            message(FATAL_ERROR "CPMFindPackage(${name}): option '${option}' is not 'KEY VALUE'")
        endif()
        set(${CMAKE_MATCH_1} "${CMAKE_MATCH_2}")
    endforeach()
    set(extra_args)
    if(exclude)
        list(APPEND extra_args EXCLUDE_FROM_ALL)
    endif()
    if(system)
        list(APPEND extra_args SYSTEM)
    endif()
    add_subdirectory("${source_dir}" "${CMAKE_BINARY_DIR}/_deps/${name}-build" ${extra_args})
endfunction()

macro(CPMFindPackage)
    cmake_parse_arguments(_pycat_cpm
        ""
        "NAME;VERSION;GIT_TAG;GITHUB_REPOSITORY;GIT_REPOSITORY;URL;DOWNLOAD_ONLY;SYSTEM;EXCLUDE_FROM_ALL"
        "OPTIONS"
        ${ARGN})
    if(NOT _pycat_cpm_NAME)
        message(FATAL_ERROR "CPMFindPackage: NAME is required")
    endif()
    set(_pycat_cpm_source "${CPM_${_pycat_cpm_NAME}_SOURCE}")
    if(_pycat_cpm_source)
        if(NOT IS_DIRECTORY "${_pycat_cpm_source}")
            message(FATAL_ERROR "CPM_${_pycat_cpm_NAME}_SOURCE=${_pycat_cpm_source} is not a folder")
        endif()
        get_filename_component(_pycat_cpm_source "${_pycat_cpm_source}" ABSOLUTE)
        set(${_pycat_cpm_NAME}_SOURCE_DIR "${_pycat_cpm_source}")
        set(${_pycat_cpm_NAME}_BINARY_DIR "${CMAKE_BINARY_DIR}/_deps/${_pycat_cpm_NAME}-build")
        set(${_pycat_cpm_NAME}_ADDED TRUE)
        if(NOT _pycat_cpm_DOWNLOAD_ONLY AND EXISTS "${_pycat_cpm_source}/CMakeLists.txt")
            _pycat_cpm_add_subdirectory("${_pycat_cpm_NAME}" "${_pycat_cpm_source}"
                "${_pycat_cpm_EXCLUDE_FROM_ALL}" "${_pycat_cpm_SYSTEM}" ${_pycat_cpm_OPTIONS})
        endif()
        message(STATUS "${_pycat_cpm_NAME}: from ${_pycat_cpm_source}")
    else()
        set(_pycat_cpm_package "${CPM_${_pycat_cpm_NAME}_PACKAGE}")
        if(NOT _pycat_cpm_package)
            set(_pycat_cpm_package "${_pycat_cpm_NAME}")
        endif()
        find_package(${_pycat_cpm_package} QUIET)
        string(TOUPPER "${_pycat_cpm_package}" _pycat_cpm_upper)
        if(NOT ${_pycat_cpm_package}_FOUND AND NOT ${_pycat_cpm_upper}_FOUND)
            message(FATAL_ERROR
                "${_pycat_cpm_NAME} (version ${_pycat_cpm_VERSION}${_pycat_cpm_GIT_TAG}) is not installed, "
                "and this build downloads nothing: install it, or set CPM_${_pycat_cpm_NAME}_SOURCE "
                "to its source folder (or CPM_${_pycat_cpm_NAME}_PACKAGE to the name find_package knows it by)")
        endif()
        set(${_pycat_cpm_NAME}_ADDED FALSE)
        message(STATUS "${_pycat_cpm_NAME}: installed ${_pycat_cpm_package} ${${_pycat_cpm_package}_VERSION}")
    endif()
endmacro()
