# The original interface's gen_neu_demo.py (its README's "about gen_neu"), in Python 3:
# print statements became print() calls, and the imports name neunet.
from neunet import gen_neu, parameters
import matplotlib.pyplot as plt

# Get default parameters
pm = parameters()

# Customize parameters
# basic ones
pm['simulation-method'] = 'simple' # it could be simple, SSC(spike order correction)
                                   # and (NOT TESTED YET:) IF-jump, etc(refer to
                                   # https://github.com/bewantbe/point-neuron-network-simulator)
pm['neuron-model'] = 'HH-PT-GH' # it could be HH-PT-GH, LIF-G, LIF-GH, DIF-GH, DIF-single-GH, etc
                                # refer to the link above
pm['net']              # the adjacent matrix of the neuron net(system)
                        # you can fill in a path or a list of list (matrix)
                        # by default it's -, which means all neuron connected

pm['t'] = 100           # the lasting time of simulation
pm['dt'] = 1.0/32.0     # the duration of a small time step
pm['stv'] = pm['dt']    # the duration of one data record
pm['nE'] = 1            # number of excitatory neurons (neurons that gives a positive input)
pm['nI'] = 0            # number of inhibitory neurons (neurons that gives a negative input)

# more advanced para
pm['pr'] = 0.1           # poisson rate (the probability of a random input,
                        # to simulate the complicated network connection of human neuron system)
pm['ps'] = 0.014         # poisson strength, not to be too large
pm['scee'] = 0.05        # the effect of one fired 'e'xcitatory neuron giving to a connected 'e' one
pm['scei'] = 0.05        # the effect of one fired 'e'xcitatory neuron giving to a connected 'i' one
pm['scie'] = 0.05        # the effect of one fired 'i'xcitatory neuron giving to a connected 'e' one
pm['scii'] = 0.05        # the effect of one fired 'i'xcitatory neuron giving to a connected 'i' one

# call the simulator and run simulation.
result = gen_neu(pm, 'v rm') # the second parameter could be
# v: default, verbose, print process
# rm: default, remove data files (you can the content via return value)
# no-rm: force not to remove data files
#     NOTICE: rm is by default on, even if you do not specify it
#           if you want to keep the files, you MUST specify no-rm
# read: do not do simulation but read existing files
#     useful when you 'no-rm' and clear the return value
# nameX: do not return data, only return filenames
#     in this mode, no-rm is forced on
# cmd: do not do simulation but print the command line options
#     that "is" going to be executed, useful for test and debug

# after simulation
print("data has been stored in list 'result'")
print([(x[0],x[1]) for x in result]) #x[2] is data itself, you can use it

plt.plot(result[0][2][0]) # show the voltage trace of the first neuron
plt.show()
