#!/bin/sh
# Managed by Ansible (flask_deploy.stack.host_patches). Asked by invoke-rc.d and deb-systemd-invoke
# before a package's maintainer script starts, stops or restarts a service (policy-rc.d(8)).
# nginx's packages restart nginx on an upgrade, refusing connections until it is up again: that
# restart is refused here and noted, and the dpkg hook flask-deploy-nginx-upgrade replaces it by
# nginx's binary upgrade once dpkg has configured the packages. Everything else is allowed.
service=$1
actions=$2
case "$service" in
  nginx|nginx.service) ;;
  *) exit 0 ;;
esac
for action in $actions; do
  case "$action" in
    restart|try-restart|force-reload|upgrade)
      touch /run/flask-deploy-nginx-upgrade
      exit 101
      ;;
  esac
done
exit 0
