# packaging.cmake - the Debian package (cpack -G DEB), from what
# cmake --install lays out (docs/packaging.md).  Configure with
# -DCMAKE_INSTALL_PREFIX=/usr for a package.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vplumb)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR vplumb)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "CNI plugins, vnetctl and the vblkd disk daemon: one plumbing for containers and VMs")
set(CPACK_PACKAGE_DESCRIPTION "vnet-bridge, vnet-ptp, vnet-tap and vnet-ipam (one vnet-cni executable in /opt/cni/bin), vnetctl for network setup without Kubernetes, and vblkd/vblkctl serving disk images over NBD, vhost-user-blk and ublk.")
# The CNI plugins go to an absolute /opt/cni/bin: stage every file under
# DESTDIR, never on the building host.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "vplumb developers <vplumb@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the libraries the binaries link (dpkg-shlibdeps): libc6,
# libmnl0, liburing2, libseccomp2, and whatever else a build links shared.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/deploy/deb/postinst
  ${CMAKE_SOURCE_DIR}/deploy/deb/prerm
  ${CMAKE_SOURCE_DIR}/deploy/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
