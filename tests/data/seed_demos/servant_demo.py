# The original interface's servant_demo.py (its README's "about servant.py"), in Python 3:
# the import names neunet.
from neunet import Servant

PORT = 22222      # the same as what the lab_neu has opened
HOST = "127.0.0.1" # the hostname of the machine running lab_neu
ADDR = (HOST,PORT)

sm = Servant(ADDR) # initialize the servant machine
# At this point, make sure lab_gen has started 'lab_gen.start()'
sm.start()         # Start working
