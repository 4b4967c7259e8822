"""The one version of this distribution (chris-swift-compute): swiftstore, httpkit, pfioh and pman.

Every version string comes from here: setup.py reads this file as text (it must not import the
package, whose dependencies may not be installed yet), and pfioh, pman and pman-swift-publisher
report it in ``--version`` and in their hello, health and REST replies.  It lives in swiftstore
because that is the package every other one may import and that imports none of them.

The wire: the original pfioh 2.2.0.8 and pman 2.2.0.4 put their own versions in the ``hello``
reply (``d_ret.version``).  No original client looks at the value (pfurl prints it, pfcon and
CUBE never read it), so our services report ours instead of imitating theirs; the field and its
type (a string) stay as they were.
"""

VERSION = "0.1.0"
