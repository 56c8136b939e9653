#!/usr/bin/env bash
# Run memorization.sh in generalization.sh's core once that script has ended.
while pgrep -f "[ /]generalization.sh" > /dev/null; do sleep 60; done
exec ./memorization.sh
